-- analytics_learners: every tracked learner (user, course) of the courses the SCOPE condition
-- names, read by the user_engagement and at_risk reports run as someone who sees only part of
-- the site (docs/analytics.md). A course's references are worked out over all of its tracked
-- learners, whoever runs the report; the learners the viewer sees come from the course_progress
-- report's own query, and the others are needed only as (user, course): this query applies the
-- same tracked-learner rule as course_progress without its progress, completion and last-access
-- columns (on the large demo 0.7-1.0 s against 1.8-2.5 s on MariaDB).
SELECT STRAIGHT_JOIN  -- if mysql
SELECT                -- if !mysql
       ue.userid,
       e.courseid
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid AND e.status = 0
  JOIN {course} c ON c.id = e.courseid AND c.enablecompletion = 1
  JOIN {user} u ON u.id = ue.userid AND u.deleted = 0
 WHERE ue.status = 0
   AND %%SCOPE%%
   AND ue.timestart < :now
   AND (ue.timeend = 0 OR ue.timeend > :now)
   AND c.id = :courseid                                                         -- if :courseid
   -- include tracked_learner
