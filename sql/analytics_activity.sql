-- analytics_activity: the learners' own actions in the engagement window, from the standard log,
-- read by the user_engagement and at_risk reports (docs/analytics.md).
--
-- Kept, as time tracking keeps them: events of a real, logged-in user acting as
-- themselves: not anonymous, not 'logged in as' (realuserid set), not the guest, from one of the
-- [time_tracking] origins (ORIGINS: the bound origin parameters). Only course events matter
-- here, so the site course and course 0 never match a tracked learner's course. The window runs
-- from local midnight of its first day up to the moment of the run, inclusive.
-- COURSES is replaced by the tracked courses (l.courseid IN (...)) when they are few enough to
-- list, so the query reads only their rows.
--
-- With flag totals (the site has daily time totals) the database counts per learner and course:
-- the events, and the distinct local days they fall on. OFFSET is the site timezone's UTC
-- offset at l.timecreated (a CASE over the offset changes inside the window), so
-- (timecreated + offset) divided by 86400, rounded down, numbers the local day. MySQL's / is
-- decimal division (rounded to 4 places, which can round up into the next day), so it uses DIV.
-- Without it, rows come ordered by learner, course and time, so each (user, course) is handled
-- in one pass holding only its own events (the session rule needs them).
SELECT l.userid, l.courseid,
       COUNT(*) AS interactions,                                                -- if totals
       COUNT(DISTINCT (l.timecreated + %%OFFSET%%) DIV 86400) AS active_days    -- if totals mysql
       COUNT(DISTINCT (l.timecreated + %%OFFSET%%) / 86400) AS active_days      -- if totals !mysql
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
