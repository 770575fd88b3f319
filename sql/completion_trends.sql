-- completion_trends: how many course completions happened in each of the last 12 calendar months.
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
-- What counts: one course_completions row (one per user and course) whose timecompleted (set and
-- non-zero means completed, as Moodle reads it) falls in the month, for users that are not deleted.
-- A completion counts whether or not the user is still enrolled: it happened that month.
-- Filters: courseid (only that course), companyid (IOMAD: only users of that company).
--
-- The SCOPE marker is where the acting user's scope goes: only the completions
-- of users and courses they may see are counted.
--
-- The window condition reads the index on course_completions.timecompleted, so only the
-- completions of the twelve months are visited; no sort, no temporary table.
SELECT
       COUNT(CASE WHEN cc.timecompleted >= :bound0 AND cc.timecompleted < :bound1 THEN 1 END) AS month01,
       COUNT(CASE WHEN cc.timecompleted >= :bound1 AND cc.timecompleted < :bound2 THEN 1 END) AS month02,
       COUNT(CASE WHEN cc.timecompleted >= :bound2 AND cc.timecompleted < :bound3 THEN 1 END) AS month03,
       COUNT(CASE WHEN cc.timecompleted >= :bound3 AND cc.timecompleted < :bound4 THEN 1 END) AS month04,
       COUNT(CASE WHEN cc.timecompleted >= :bound4 AND cc.timecompleted < :bound5 THEN 1 END) AS month05,
       COUNT(CASE WHEN cc.timecompleted >= :bound5 AND cc.timecompleted < :bound6 THEN 1 END) AS month06,
       COUNT(CASE WHEN cc.timecompleted >= :bound6 AND cc.timecompleted < :bound7 THEN 1 END) AS month07,
       COUNT(CASE WHEN cc.timecompleted >= :bound7 AND cc.timecompleted < :bound8 THEN 1 END) AS month08,
       COUNT(CASE WHEN cc.timecompleted >= :bound8 AND cc.timecompleted < :bound9 THEN 1 END) AS month09,
       COUNT(CASE WHEN cc.timecompleted >= :bound9 AND cc.timecompleted < :bound10 THEN 1 END) AS month10,
       COUNT(CASE WHEN cc.timecompleted >= :bound10 AND cc.timecompleted < :bound11 THEN 1 END) AS month11,
       COUNT(CASE WHEN cc.timecompleted >= :bound11 AND cc.timecompleted < :bound12 THEN 1 END) AS month12
  FROM {course_completions} cc
  JOIN {user} u ON u.id = cc.userid AND u.deleted = 0
 WHERE cc.timecompleted >= :bound0
   AND cc.timecompleted < :bound12
   AND %%SCOPE%%
   AND cc.course = :courseid                                                    -- if :courseid
   AND EXISTS (SELECT 1 FROM {company_users} fcu                               -- if iomad :companyid
                WHERE fcu.userid = cc.userid AND fcu.companyid = :companyid)    -- if iomad :companyid
