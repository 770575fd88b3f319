-- analytics_activity: the learners' own actions in the engagement window, from the standard log,
-- read by the user_engagement and at_risk reports (docs/analytics.md).
--
-- Kept, as time tracking keeps them: events of a real, logged-in user acting as
-- themselves: not anonymous, not 'logged in as' (realuserid set), not the guest. Only course
-- events matter here, so the site course and course 0 never match a tracked learner's course.
-- The origin (web, ws, cli, ...) is returned so the same [time_tracking] origins apply; the
-- window runs from local midnight of its first day up to the moment of the run, inclusive.
-- COURSES is replaced by the tracked courses (l.courseid IN (...)) when they are few enough to
-- list, so the query reads only their rows.
-- Rows come ordered by learner, course and time, so each (user, course) is handled in one pass
-- holding only its own events.
SELECT l.userid, l.courseid, l.timecreated, l.origin
  FROM {logstore_standard_log} l
 WHERE l.timecreated >= :since
   AND l.timecreated <= :now
   AND l.anonymous = 0
   AND (l.realuserid IS NULL OR l.realuserid = 0)
   AND l.userid > 0
   AND l.userid <> :guest
   AND l.courseid = :courseid                                                  -- if :courseid
   AND %%COURSES%%
 ORDER BY l.userid, l.courseid, l.timecreated
