-- analytics_scope: the (user, course) pairs of active enrolment rows that the acting user's
-- scope admits, read by the user_engagement and at_risk reports (docs/analytics.md) to pick the
-- rows shown among the tracked learners. The tracked learners themselves come from the
-- course_progress SQL, run once for the whole site (or --course): a course's references need
-- every tracked learner of it, whoever runs the report. Every tracked learner has an enrolment
-- kept here, and the SCOPE condition (over ue.userid and e.courseid) depends on nothing else, so
-- tracked learners among these pairs are exactly the tracked learners in scope.
SELECT DISTINCT ue.userid, e.courseid
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid
 WHERE ue.status = 0
   AND e.status = 0
   AND e.courseid = :courseid                                                  -- if :courseid
   AND %%SCOPE%%
