-- company_overview (IOMAD): one row per company with its users, their active enrolments, how many
-- of those are completed, and the completion rate.
--
-- users: distinct users of the company in company_users, any department, that are not deleted.
--   A user with rows in several departments counts once; a user of several companies counts in
--   each. Company-suspended (company_users.suspended = 1) and site-suspended (user.suspended = 1)
--   users and the company's managers and educators are counted: they are the company's users,
--   and a company manager is responsible for every non-deleted user (IOMAD's company::get_my_users).
-- enrolments: the (user, course) pairs in which one of those users has an active enrolment by
--   Moodle's rules at now (--as-of): ue.status = 0, e.status = 0, ue.timestart < now, timeend 0
--   or after now. Each course once per user, however many enrolment methods. Courses of any
--   company or of none are counted, as IOMAD's own reports count the company's users'
--   enrolments: a company's learners are often enrolled in shared courses that company_course
--   does not list.
-- completions: those enrolments whose course_completions.timecompleted is set (non-null and
--   non-zero, as Moodle's completion_completion::is_complete). A completion without a current enrolment does not count, so
--   completions never exceed enrolments.
-- completion_rate: completions / enrolments * 100, rounded to 1 decimal; null (no rate) when the
--   company's users have no active enrolment.
-- Every company is listed, ordered by name, including those without users; companyid keeps one.
-- The SCOPE marker is where the acting user's scope goes, over the company id:
-- a company manager sees the companies they manage, --company narrows to one company.
--
-- Efficiency: active enrolments are reduced to distinct (user, course) pairs once for the whole
-- site (a grouped derived table), then joined to the company memberships and grouped by company;
-- no subquery runs per row.
SELECT co.id AS companyid,
       co.name AS company,
       COALESCE(s.users, 0) AS users,
       COALESCE(s.enrolments, 0) AS enrolments,
       COALESCE(s.completions, 0) AS completions,
       CASE WHEN s.enrolments > 0
            THEN ROUND(100.0 * s.completions / s.enrolments, 1)
            ELSE NULL END AS completion_rate
  FROM {company} co
  LEFT JOIN (
        SELECT cu.companyid,
               COUNT(DISTINCT cu.userid) AS users,
               COUNT(ae.courseid) AS enrolments,
               COUNT(cc.id) AS completions
          FROM (SELECT DISTINCT mcu.companyid, mcu.userid
                  FROM {company_users} mcu
                 WHERE mcu.companyid = :companyid                             -- if :companyid
               ) cu
          JOIN {user} u ON u.id = cu.userid AND u.deleted = 0
          -- The user's active enrolments, one row per course.
          LEFT JOIN (SELECT ue.userid, e.courseid
                       FROM {user_enrolments} ue
                       JOIN {enrol} e ON e.id = ue.enrolid AND e.status = 0
                      WHERE ue.status = 0
                        AND ue.timestart < :now
                        AND (ue.timeend = 0 OR ue.timeend > :now)
                        AND ue.userid IN (SELECT fcu.userid FROM {company_users} fcu  -- if :companyid
                                           WHERE fcu.companyid = :companyid)          -- if :companyid
                      GROUP BY ue.userid, e.courseid) ae ON ae.userid = cu.userid
          LEFT JOIN {course_completions} cc ON cc.userid = ae.userid
                                           AND cc.course = ae.courseid
                                           AND cc.timecompleted > 0
                                           AND cc.timecompleted <= :now
         GROUP BY cu.companyid
       ) s ON s.companyid = co.id
 WHERE %%SCOPE%%
   AND co.id = :companyid                                                       -- if :companyid
 ORDER BY co.name, co.id
