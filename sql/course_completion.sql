-- course_completion: one row per learner that Moodle's own completion report tracks, per course.
--
-- Tracked (the rules Moodle applies, as completion_info::get_tracked_users):
--   * the course has completion enabled (hidden courses included);
--   * the user has an active enrolment: ue.status = 0 and e.status = 0, started before now and
--     not yet ended (timeend 0 means no end);
--   * the user holds, in the course or a parent context, a role that is allowed
--     moodle/course:isincompletionreports at system level (the student role on a stock site);
--   * the user is not deleted. Suspended users are still tracked, as Moodle does.
-- Completed means course_completions.timecompleted is set; no row means not completed.
--
-- The query is driven from user_enrolments in primary-key order so the database streams it
-- without a sort or a temporary table (STRAIGHT_JOIN keeps MariaDB from starting at the course
-- table and sorting): each (user, course) is emitted once, at its first active enrolment, and
-- "enrolled" is that enrolment's start (its creation time when it has no start).
-- The SCOPE marker in the WHERE clause is where the acting user's scope goes.
SELECT STRAIGHT_JOIN  -- if mysql
SELECT                -- if !mysql
       u.id AS userid,
       u.username,
       CONCAT(u.firstname, ' ', u.lastname) AS fullname,  -- if mysql
       u.firstname || ' ' || u.lastname AS fullname,      -- if !mysql
       u.email,
       c.id AS courseid,
       c.shortname AS course_shortname,
       c.fullname AS course_fullname,
       CASE WHEN ue.timestart > 0 THEN ue.timestart ELSE ue.timecreated END AS enrolled,
       CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END AS completed,
       cc.timecompleted,
       (SELECT co.name FROM {company} co WHERE co.id = :companyid) AS company  -- if iomad :companyid
       uc.names AS company                                                      -- if iomad !:companyid !mysql
       CASE WHEN uc.firstco = uc.lastco                                         -- if iomad !:companyid mysql
            THEN (SELECT co1.name FROM {company} co1 WHERE co1.id = uc.firstco)   -- if iomad !:companyid mysql
            WHEN uc.firstco IS NOT NULL                                         -- if iomad !:companyid mysql
            THEN (SELECT GROUP_CONCAT(DISTINCT co2.name ORDER BY co2.name SEPARATOR ', ')  -- if iomad !:companyid mysql
                    FROM {company} co2                                          -- if iomad !:companyid mysql
                    JOIN {company_users} cu2 ON cu2.companyid = co2.id          -- if iomad !:companyid mysql
                   WHERE cu2.userid = u.id)                                     -- if iomad !:companyid mysql
       END AS company                                                           -- if iomad !:companyid mysql
       NULL AS company                                                          -- if !iomad
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid AND e.status = 0
  JOIN {course} c ON c.id = e.courseid AND c.enablecompletion = 1
  JOIN {user} u ON u.id = ue.userid AND u.deleted = 0
  -- A completion after the moment of the report (--as-of) had not happened yet.
  LEFT JOIN {course_completions} cc ON cc.userid = ue.userid AND cc.course = c.id
                                  AND cc.timecompleted <= :now
  -- Each user's companies, aggregated once for all rows (company_users has no index on userid
  -- alone, so a per-row subquery would scan every company for every row).
  LEFT JOIN (SELECT cn.userid,                                                     -- if iomad !:companyid !mysql
                    string_agg(cn.name, ', ' ORDER BY cn.name) AS names           -- if iomad !:companyid postgresql
                    group_concat(cn.name, ', ') AS names                          -- if iomad !:companyid sqlite
               FROM (SELECT DISTINCT cu.userid, co.name                           -- if iomad !:companyid !mysql
                       FROM {company_users} cu                                    -- if iomad !:companyid !mysql
                       JOIN {company} co ON co.id = cu.companyid                  -- if iomad !:companyid !mysql
                      ORDER BY co.name) cn                                        -- if iomad !:companyid !mysql
              GROUP BY cn.userid) uc ON uc.userid = u.id                          -- if iomad !:companyid !mysql
  -- MariaDB/MySQL keep the grouped names (a GROUP_CONCAT is a text column) in an on-disk
  -- temporary table, and looking it up once per row cost as much as the rest of the query. They
  -- group integers instead: each user's lowest and highest company id, kept in memory. A user of
  -- one company (nearly all) gets its name by primary key, a lookup the subquery cache answers
  -- from the few companies there are; a user of several gets the names listed per row. (`+ 0`:
  -- see course_progress.sql, it keeps MariaDB from rebuilding the grouped table per row.)
  LEFT JOIN (SELECT cu.userid + 0 AS userid,                                       -- if iomad !:companyid mysql
                    MIN(cu.companyid) AS firstco, MAX(cu.companyid) AS lastco     -- if iomad !:companyid mysql
               FROM {company_users} cu                                            -- if iomad !:companyid mysql
              GROUP BY cu.userid) uc ON uc.userid = u.id                          -- if iomad !:companyid mysql
 WHERE ue.status = 0
   AND %%SCOPE%%
   AND ue.timestart < :now
   AND (ue.timeend = 0 OR ue.timeend > :now)
   AND c.id = :courseid                                                         -- if :courseid
   AND EXISTS (SELECT 1 FROM {company_users} fcu                                -- if iomad :companyid
                WHERE fcu.userid = u.id AND fcu.companyid = :companyid)         -- if iomad :companyid
   AND ((CASE WHEN ue.timestart > 0 THEN ue.timestart ELSE ue.timecreated END >= :from
         AND CASE WHEN ue.timestart > 0 THEN ue.timestart ELSE ue.timecreated END < :to)
        OR (cc.timecompleted >= :from AND cc.timecompleted < :to))
   -- include tracked_learner
 ORDER BY ue.id
