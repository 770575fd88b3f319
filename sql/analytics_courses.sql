-- analytics_courses: the courses whose log a dashboard's at-risk runs are counted from in one scan
-- read ahead of them (docs/analytics.md). Moodle tracks completion only in a course with
-- completion enabled, so every tracked learner's course is one of these, whoever the runs are for.
SELECT c.id
  FROM {course} c
 WHERE c.enablecompletion = 1
 ORDER BY c.id
