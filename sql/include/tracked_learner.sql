-- Who counts as a tracked learner of a course, beyond the joins every includer writes
-- (an active enrolment ue of enrol method e, the user u not deleted):
-- conditions for a WHERE clause, each starting with AND.
--
-- Each (user, course) once: at its first active enrolment, i.e. no earlier active enrolment of
-- the user in the course. Few pairs have more than one active enrolment, so those pairs and
-- their first enrolment are grouped once (dup) and each row looks itself up there: a check per
-- row through the user's enrolments cost a third of course_completion's time on MariaDB. The
-- key columns are `x + 0` for MariaDB and PostgreSQL (see course_progress.sql: otherwise
-- MariaDB groups the enrolments again for every row) and bare for SQLite (its automatic index).
-- MariaDB groups the enrolments read in table order, each looking its enrolment method up by
-- primary key (STRAIGHT_JOIN): left to itself it starts at the methods and reads each one's
-- enrolments through the enrolid index, a random read of the table per enrolment, which made
-- building dup take twice as long (the largest part of the tracked-learner check).
   AND NOT EXISTS (
        SELECT 1
          FROM (SELECT fue.userid + 0 AS userid, fe.courseid + 0 AS courseid,     -- if !sqlite
          FROM (SELECT fue.userid AS userid, fe.courseid AS courseid,             -- if sqlite
                       MIN(fue.id) AS firstid
                  FROM {user_enrolments} fue
                  STRAIGHT_JOIN {enrol} fe ON fe.id = fue.enrolid AND fe.status = 0 -- if mysql
                  JOIN {enrol} fe ON fe.id = fue.enrolid AND fe.status = 0          -- if !mysql
                 WHERE fue.status = 0
                   AND fue.timestart < :now
                   AND (fue.timeend = 0 OR fue.timeend > :now)
                 GROUP BY fue.userid, fe.courseid
                HAVING COUNT(*) > 1) dup
         WHERE dup.userid = ue.userid
           AND dup.courseid = e.courseid
           AND dup.firstid < ue.id)
   -- The role check: a role allowed moodle/course:isincompletionreports at system level (the
   -- student role on a stock site), held in the course context or a context above it. Written
   -- with OR so that MariaDB keeps the rare second check (a category or system context above the
   -- course) as a per-row lookup instead of a semi-join that starts from role_capabilities and
   -- sorts everything; one EXISTS with an OR on the context let PostgreSQL compare every learner
   -- with every role assignment. The first check names the course, not its context: the set of
   -- (user, course) holding such a role in the course context is built once (MariaDB's
   -- semi-join materialisation, PostgreSQL's hashed subplan) and the learner rows need no join
   -- to the context table (MariaDB 20%, PostgreSQL 35% faster on the large demo than probing
   -- role_assignments by the course context joined per row).
   AND (EXISTS (
        SELECT 1
          FROM {role_assignments} ra
          JOIN {context} rctx ON rctx.id = ra.contextid AND rctx.contextlevel = 50
         WHERE ra.userid = ue.userid
           AND rctx.instanceid = e.courseid
           AND ra.roleid IN (SELECT rc.roleid
                               FROM {role_capabilities} rc
                               JOIN {context} sysctx ON sysctx.id = rc.contextid
                              WHERE sysctx.contextlevel = 10
                                AND rc.capability = 'moodle/course:isincompletionreports'
                                AND rc.permission = 1))
        OR EXISTS (
        SELECT 1
          FROM {role_assignments} pra
          JOIN {context} pctx ON pctx.id = pra.contextid AND pctx.contextlevel < 50
         WHERE pra.userid = ue.userid
           AND pra.roleid IN (SELECT prc.roleid
                                FROM {role_capabilities} prc
                                JOIN {context} psysctx ON psysctx.id = prc.contextid
                               WHERE psysctx.contextlevel = 10
                                 AND prc.capability = 'moodle/course:isincompletionreports'
                                 AND prc.permission = 1)
           AND (SELECT cctx.path
                  FROM {context} cctx
                 WHERE cctx.contextlevel = 50 AND cctx.instanceid = e.courseid)
               LIKE CONCAT(pctx.path, '/%')))                                            -- if mysql
               LIKE pctx.path || '/%'))                                                  -- if !mysql
