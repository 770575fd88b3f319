-- Who counts as a tracked learner of a course, beyond the joins every includer writes
-- (an active enrolment ue of enrol method e, the course context ctx, the user u not deleted):
-- conditions for a WHERE clause, each starting with AND.
--
-- Each (user, course) once: at its first active enrolment.
   AND NOT EXISTS (
        SELECT 1
          FROM {user_enrolments} ue2
          JOIN {enrol} e2 ON e2.id = ue2.enrolid
         WHERE ue2.userid = ue.userid
           AND e2.courseid = e.courseid
           AND ue2.id < ue.id
           AND e2.status = 0
           AND ue2.status = 0
           AND ue2.timestart < :now
           AND (ue2.timeend = 0 OR ue2.timeend > :now))
   -- The role check: a role allowed moodle/course:isincompletionreports at system level (the
   -- student role on a stock site), held in the course context or a context above it. Two
   -- probes per row on role_assignments' (userid, contextid, roleid) index, the course context
   -- itself and then (rarely) a category or system context above it. Written with OR so that
   -- MariaDB keeps them as per-row lookups instead of a semi-join that starts from
   -- role_capabilities and sorts everything; one EXISTS with an OR on the context let
   -- PostgreSQL compare every learner with every role assignment.
   AND (EXISTS (
        SELECT 1
          FROM {role_assignments} ra
         WHERE ra.userid = ue.userid
           AND ra.contextid = ctx.id
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
           AND (ctx.path LIKE CONCAT(pctx.path, '/%')                                -- if mysql
           AND (ctx.path LIKE pctx.path || '/%'                                      -- if !mysql
               )))
