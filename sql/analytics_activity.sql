-- analytics_activity: the learners' own actions in the engagement window, from the standard log,
-- read by the user_engagement and at_risk reports (docs/analytics.md).
--
-- Kept, as time tracking keeps them: events of a real, logged-in user acting as
-- themselves: not anonymous, not 'logged in as' (realuserid set), not the guest, from one of the
-- [time_tracking] origins (ORIGINS: the bound origin parameters). Only course events matter
-- here, so the site course and course 0 never match a tracked learner's course. The range read
-- (since, now) runs from local midnight of the window's first day up to the moment of the run,
-- inclusive; when one scan serves several windows, from the earliest start to the latest end.
-- COURSES is replaced by the tracked courses (l.courseid IN (...)) when they are few enough to
-- list, so the query reads only their rows.
--
-- With flag totals (the site has daily time totals) the database counts per learner and course:
-- the events, and the distinct local days they fall on. COUNTS holds those two columns for each
-- window asked (analytics/activity.py, counts_sql): COUNT(*) and COUNT(DISTINCT local day) for
-- a window that is the whole range read, the same over a CASE that keeps the window's own
-- events when one scan serves several windows (a dashboard's at-risk now and at the end of last
-- month). The local day is (timecreated + offset) divided by 86400, rounded down, where the
-- offset is the site timezone's UTC offset at l.timecreated (a CASE over the offset changes
-- inside the range); MySQL's / is decimal division (rounded to 4 places, which can round up
-- into the next day), so it uses DIV.
-- Without it, rows come ordered by learner, course and time, so each (user, course) is handled
-- in one pass holding only its own events (the session rule needs them).
SELECT l.userid, l.courseid,
       %%COUNTS%%                                                               -- if totals
       l.timecreated                                                            -- if !totals
  FROM {logstore_standard_log} l
 WHERE l.timecreated >= :since
   AND l.timecreated <= :now
   AND l.anonymous = 0
   AND (l.realuserid IS NULL OR l.realuserid = 0)
   AND l.userid > 0
   AND l.userid <> :guest
   AND l.origin IN (%%ORIGINS%%)
   AND l.courseid = :courseid                                                  -- if :courseid
   AND %%COURSES%%
 GROUP BY l.userid, l.courseid                                                 -- if totals
 ORDER BY l.userid, l.courseid, l.timecreated                                  -- if !totals
