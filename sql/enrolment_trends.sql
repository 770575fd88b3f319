-- enrolment_trends: how many enrolments were made in each of the last 12 calendar months.
--
-- The months are calendar months in the site timezone, the last one being the month that contains
-- now (--as-of). Their boundaries are computed in Python with zoneinfo (SQL cannot convert
-- timezones portably) and bound as the parameters bound0 .. bound11, local midnight on the first
-- day of each month, oldest first, and bound12 = now + 1: the current month counts up to and
-- including now, so events dated later are left out and a re-run with the same --as-of gives the
-- same answer. Month N counts bound(N-1) <= t < boundN. The query returns one row of twelve
-- counts; the report's Python transform turns it into twelve (month, count) rows, oldest first,
-- months without events included.
--
-- What counts as one enrolment: one user_enrolments row (a user enrolled in a course by two
-- methods counts twice, each once), in the month of its timecreated, the moment Moodle enrolled
-- the user (enrol_plugin::enrol_user sets it; timestart is when access begins, which may be the
-- course start, a future date or 0). Every row counts whatever its status today: suspended
-- enrolments and disabled methods were still enrolments made that month. Moodle deletes the row
-- when a user is unenrolled, so unenrolled users no longer count. Users that are deleted do not
-- count. Filters: courseid (only that course), companyid (IOMAD: only users of that company).
--
-- The SCOPE marker is where the acting user's scope goes: only the enrolments
-- of users and courses they may see are counted.
--
-- One scan of user_enrolments (the table has no index on timecreated; with courseid the scan
-- starts from the course's enrolment methods), no sort and no temporary table.
SELECT
       COUNT(CASE WHEN ue.timecreated >= :bound0 AND ue.timecreated < :bound1 THEN 1 END) AS month01,
       COUNT(CASE WHEN ue.timecreated >= :bound1 AND ue.timecreated < :bound2 THEN 1 END) AS month02,
       COUNT(CASE WHEN ue.timecreated >= :bound2 AND ue.timecreated < :bound3 THEN 1 END) AS month03,
       COUNT(CASE WHEN ue.timecreated >= :bound3 AND ue.timecreated < :bound4 THEN 1 END) AS month04,
       COUNT(CASE WHEN ue.timecreated >= :bound4 AND ue.timecreated < :bound5 THEN 1 END) AS month05,
       COUNT(CASE WHEN ue.timecreated >= :bound5 AND ue.timecreated < :bound6 THEN 1 END) AS month06,
       COUNT(CASE WHEN ue.timecreated >= :bound6 AND ue.timecreated < :bound7 THEN 1 END) AS month07,
       COUNT(CASE WHEN ue.timecreated >= :bound7 AND ue.timecreated < :bound8 THEN 1 END) AS month08,
       COUNT(CASE WHEN ue.timecreated >= :bound8 AND ue.timecreated < :bound9 THEN 1 END) AS month09,
       COUNT(CASE WHEN ue.timecreated >= :bound9 AND ue.timecreated < :bound10 THEN 1 END) AS month10,
       COUNT(CASE WHEN ue.timecreated >= :bound10 AND ue.timecreated < :bound11 THEN 1 END) AS month11,
       COUNT(CASE WHEN ue.timecreated >= :bound11 AND ue.timecreated < :bound12 THEN 1 END) AS month12
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid
  JOIN {user} u ON u.id = ue.userid AND u.deleted = 0
 WHERE ue.timecreated >= :bound0
   AND ue.timecreated < :bound12
   AND %%SCOPE%%
   AND e.courseid = :courseid                                                   -- if :courseid
   AND EXISTS (SELECT 1 FROM {company_users} fcu                               -- if iomad :companyid
                WHERE fcu.userid = ue.userid AND fcu.companyid = :companyid)    -- if iomad :companyid
