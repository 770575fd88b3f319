-- quiz_attempts: one row per user and quiz the user has attempted (teacher previews aside).
--
-- Moodle's rules (mod_quiz\grade_calculator and the quiz overview report):
--   * attempts: the user's attempts with preview = 0, in every state: inprogress, overdue,
--     finished, abandoned and, from Moodle 5.0, notstarted (pre-created) and submitted.
--   * best_grade: the quiz grade as the gradebook gets it (quiz_grades.grade). Only finished
--     attempts with preview = 0 are graded (a 5.0 'submitted' attempt still waits for grading).
--     Their sumgrades are combined by quiz.grademethod:
--       1 highest: MAX(sumgrades);  2 average: AVG(sumgrades), NULL sumgrades left out;
--       3 first:   the sumgrades of the lowest-numbered finished attempt;
--       4 last:    the sumgrades of the highest-numbered finished attempt;
--       any other value: highest, the default of Moodle's bulk recomputation.
--     and rescaled to the quiz's maximum grade as quiz_rescale_grade() does:
--       raw * quiz.grade / quiz.sumgrades, or 0 when quiz.sumgrades < 0.000005 (a quiz without
--       marks: Moodle's guard against dividing by zero), and NULL when the raw grade is NULL
--       (no finished attempt, or only ungraded ones): Moodle then holds no grade.
--     The factor quiz.grade / quiz.sumgrades is applied as one number, as recompute_all_final_grades()
--     does, and the result is rounded to 5 decimals, the precision of quiz_grades.grade.
--     `* 1.0` keeps SQLite from dividing integers as integers.
--   * The last attempt is the one with the highest attempt number. last_attempt_state is its
--     state; last_attempt_finished its timefinish, NULL until it is submitted (timefinish 0);
--     time_taken_seconds its timefinish - timestart, also NULL until submitted. All three describe
--     the same attempt, the way Moodle's quiz report shows "time taken" per submitted attempt; an
--     earlier finished attempt's duration is not shown in place of an unfinished last one.
--   * Users: not deleted. Everyone with a non-preview attempt is listed, enrolled or not: Moodle's
--     quiz report option "all users who have attempted the quiz" (its default, "enrolled users
--     who have attempted", hides graded attempts of users who have left the course, which the
--     gradebook history still holds). The extra column `enrolled` tells them apart: 1 when the
--     user has an active enrolment in the course now (the course_completion rule: ue.status = 0,
--     e.status = 0, started before now, no end or ending after now).
--   * companyid (IOMAD) keeps users of that company.
--
-- Driven from quiz_attempts in the order of its unique index (quiz, userid, attempt): the kept row
-- is each user's last attempt, and the per-user figures are small range scans of the same index,
-- with no GROUP BY. PostgreSQL streams the report in that index order without a sort; MariaDB's
-- cost model may prefer another join order and sort the result (one row per user and quiz).
SELECT q.id AS quizid,
       q.name AS quiz_name,
       q.course AS courseid,
       u.id AS userid,
       u.username,
       (SELECT COUNT(*)
          FROM {quiz_attempts} n
         WHERE n.quiz = la.quiz AND n.userid = la.userid AND n.preview = 0) AS attempts,
       ROUND(
         (CASE q.grademethod
          WHEN 2 THEN (SELECT AVG(f.sumgrades)
                         FROM {quiz_attempts} f
                        WHERE f.quiz = la.quiz AND f.userid = la.userid
                          AND f.preview = 0 AND f.state = 'finished')
          WHEN 3 THEN (SELECT f.sumgrades
                         FROM {quiz_attempts} f
                        WHERE f.quiz = la.quiz AND f.userid = la.userid
                          AND f.preview = 0 AND f.state = 'finished'
                        ORDER BY f.attempt
                        LIMIT 1)
          WHEN 4 THEN (SELECT f.sumgrades
                         FROM {quiz_attempts} f
                        WHERE f.quiz = la.quiz AND f.userid = la.userid
                          AND f.preview = 0 AND f.state = 'finished'
                        ORDER BY f.attempt DESC
                        LIMIT 1)
          ELSE (SELECT MAX(f.sumgrades)
                  FROM {quiz_attempts} f
                 WHERE f.quiz = la.quiz AND f.userid = la.userid
                   AND f.preview = 0 AND f.state = 'finished')
          END)
         * (CASE WHEN q.sumgrades >= 0.000005 THEN q.grade * 1.0 / q.sumgrades ELSE 0 END),
         5) AS best_grade,
       la.state AS last_attempt_state,
       NULLIF(la.timefinish, 0) AS last_attempt_finished,
       CASE WHEN la.timefinish > 0 THEN la.timefinish - la.timestart END AS time_taken_seconds,
       q.grade AS max_grade,
       CASE WHEN EXISTS (
              SELECT 1
                FROM {user_enrolments} ue
                JOIN {enrol} e ON e.id = ue.enrolid
               WHERE ue.userid = la.userid
                 AND e.courseid = q.course
                 AND ue.status = 0
                 AND e.status = 0
                 AND ue.timestart < :now
                 AND (ue.timeend = 0 OR ue.timeend > :now))
            THEN 1 ELSE 0 END AS enrolled
  FROM {quiz_attempts} la
  JOIN {quiz} q ON q.id = la.quiz
  JOIN {user} u ON u.id = la.userid AND u.deleted = 0
 WHERE la.preview = 0
   AND %%SCOPE%%
   AND la.quiz = :quizid                                                        -- if :quizid
   AND q.course = :courseid                                                     -- if :courseid
   AND EXISTS (SELECT 1 FROM {company_users} cu                                 -- if iomad :companyid
                WHERE cu.userid = u.id AND cu.companyid = :companyid)           -- if iomad :companyid
   AND NOT EXISTS (
        SELECT 1
          FROM {quiz_attempts} later
         WHERE later.quiz = la.quiz
           AND later.userid = la.userid
           AND later.attempt > la.attempt
           AND later.preview = 0)
 ORDER BY la.quiz, la.userid
