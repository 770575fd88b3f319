-- course_progress: one row per learner that Moodle tracks for completion, per course, with the
-- course progress that Moodle itself shows on the Dashboard and My courses
-- (core_completion\progress::get_course_progress_percentage).
--
-- Who is listed: exactly the learners of course_completion:
--   * the course has completion enabled (hidden courses included); a course without completion
--     tracks nobody, so it has no rows at all (Moodle shows no progress there);
--   * an active enrolment: ue.status = 0 and e.status = 0, ue.timestart < now, and timeend 0 or
--     after now;
--   * a role allowed moodle/course:isincompletionreports at system level, held in the course or a
--     parent context (the student role on a stock site);
--   * the user is not deleted; suspended users are still tracked.
--
-- progress_percent, in Moodle's order of checks:
--   1. null when completion is disabled for the whole site ({config} enablecompletion = '0'; a
--      missing setting is Moodle's default, enabled);
--   2. 100 when the course is complete (course_completions.timecompleted set and non-zero),
--      whatever the activities say, even with no activities;
--   3. null when no activity counts (the denominator below is 0);
--   4. otherwise activities_completed / activities_total * 100, rounded to 2 decimals.
--
-- The activities that count (the denominator, activities_total): every course module of the
-- course with completion enabled (completion > 0), not being deleted (deletioninprogress = 0),
-- whose module type is enabled (modules.visible = 1). Moodle builds the course's module list
-- (modinfo) from get_course_mods(), which skips disabled module types ("no disabled mods"), so
-- such an activity is in neither the denominator nor the numerator, on 4.x and 5.x alike. (README
-- section 10 says they "read as incomplete", i.e. stay in the denominator; get_activities() never
-- sees them, so they cannot.)
-- Hidden activities depend on the Moodle version of the database (flag moodle5, from {config}
-- version), because the figure Moodle itself shows differs between versions and this report must
-- agree with what the learners and teachers of that site see:
--   * Moodle 4.x (before 5.0): completion_info::get_activities(); hidden (visible = 0, which
--     includes activities in hidden sections, as Moodle hides those too) and stealth
--     (visibleoncoursepage = 0) activities COUNT, so a hidden activity keeps a learner below 100%.
--   * Moodle 5.0 and later: completion_info::get_user_activities_with_completion(), the same list
--     kept to activities visible to the learner on the course page (cm_info::
--     is_visible_on_course_page). For a learner that is visible = 1 and visibleoncoursepage = 1:
--     hidden and stealth activities DO NOT COUNT. Learners with moodle/course:viewhiddenactivities
--     or manageactivities (not students) would see them; availability restrictions (the JSON in
--     course_modules.availability, group and grouping conditions) are not evaluated here.
-- Done (the numerator, activities_completed): those activities whose course_modules_completion
-- state is 1 (complete) or 2 (complete, passed). 3 (complete, failed), 4 (failed on a hidden
-- grade), 0 and a missing row are not done (Moodle 4.1+ and 5.x). Only the
-- activities of the denominator are counted, so activities_completed <= activities_total: some
-- 5.x releases counted every state 1 or 2 row of the course (count_modules_completed() without
-- the list of activities, hidden and deleting ones included, which could pass 100%); later
-- releases pass the list, and this report follows them.
-- When the course is complete, activities_completed is reported as activities_total, so the three
-- columns agree with the 100%; course_completed says why.
--
-- Counting is done once per course (act) and once per user and course (done) by grouped derived
-- tables joined to the learners, not by a subquery per row (a correlated count per row was 4x
-- slower on PostgreSQL and 2x on MariaDB with 100k learners and 1M completion rows); the course
-- and company filters are applied inside them so a filtered run reads only that course's modules
-- and completions. Their key columns are selected as `x + 0`, an expression rather than the bare
-- column: otherwise MariaDB's "lateral derived" optimisation (split_materialized) may rebuild the
-- grouped table once per learner row, which took minutes instead of seconds on such a site.
-- SQLite keeps the bare columns: on an expression it cannot build its automatic index on the
-- grouped table, and scanned all of it for every learner row (minutes on the large demo).
-- The done table reads the completions in table order and looks each one's activity up in the
-- small table of counted activities (DISTINCT, a no-op on the primary key, keeps MariaDB from
-- merging that table into the join): two index look-ups per completion row (the activity, then
-- its module type) cost MariaDB 2.5 times as much. Without a course filter STRAIGHT_JOIN keeps
-- it from starting at the activities and reading the completions through their index in random
-- order; with one, that index is the short way to the course's few completions.
-- On MariaDB the learners are read in user_enrolments order (STRAIGHT_JOIN, as course_completion
-- does), so rows stream out as they are found instead of after a sort of all of them.
-- The SCOPE marker in the WHERE clause is where the acting user's scope goes.
SELECT STRAIGHT_JOIN  -- if mysql
SELECT                -- if !mysql
       u.id AS userid,
       u.username,
       CONCAT(u.firstname, ' ', u.lastname) AS fullname,  -- if mysql
       u.firstname || ' ' || u.lastname AS fullname,      -- if !mysql
       c.id AS courseid,
       c.shortname AS course_shortname,
       COALESCE(act.total, 0) AS activities_total,
       CASE WHEN cc.timecompleted > 0 THEN COALESCE(act.total, 0)
            ELSE COALESCE(done.completed, 0) END AS activities_completed,
       CASE WHEN sitecompletion.value = '0' THEN NULL
            WHEN cc.timecompleted > 0 THEN 100.00
            WHEN act.total > 0 THEN ROUND(100.0 * COALESCE(done.completed, 0) / act.total, 2)
            ELSE NULL END AS progress_percent,
       CASE WHEN ula.timeaccess > 0 THEN ula.timeaccess ELSE NULL END AS lastaccess,
       CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END AS course_completed
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid AND e.status = 0
  JOIN {course} c ON c.id = e.courseid AND c.enablecompletion = 1
  JOIN {user} u ON u.id = ue.userid AND u.deleted = 0
  LEFT JOIN {config} sitecompletion ON sitecompletion.name = 'enablecompletion'
  -- A completion after the moment of the report (--as-of) had not happened yet.
  LEFT JOIN {course_completions} cc ON cc.userid = ue.userid AND cc.course = c.id
                                  AND cc.timecompleted <= :now
  LEFT JOIN {user_lastaccess} ula ON ula.userid = ue.userid AND ula.courseid = c.id
  -- The denominator: activities that count, per course.
  LEFT JOIN (SELECT cm.course + 0 AS course, COUNT(*) AS total                  -- if !sqlite
  LEFT JOIN (SELECT cm.course AS course, COUNT(*) AS total                      -- if sqlite
               FROM {course_modules} cm
               JOIN {modules} m ON m.id = cm.module AND m.visible = 1
              WHERE cm.completion > 0
                AND cm.deletioninprogress = 0
                AND cm.visible = 1 AND cm.visibleoncoursepage = 1                 -- if moodle5
                AND cm.course = :courseid                                         -- if :courseid
              GROUP BY cm.course) act ON act.course = c.id
  -- The numerator: the same activities in state 1 or 2, per user and course.
  LEFT JOIN (SELECT STRAIGHT_JOIN                                              -- if mysql !:courseid
  LEFT JOIN (SELECT                                                            -- if !mysql
  LEFT JOIN (SELECT                                                            -- if mysql :courseid
                    cmc.userid + 0 AS userid, cm.course + 0 AS course,         -- if !sqlite
                    cmc.userid AS userid, cm.course AS course,                 -- if sqlite
                    COUNT(*) AS completed
               FROM {course_modules_completion} cmc
               JOIN (SELECT DISTINCT cm.id, cm.course
                       FROM {course_modules} cm
                       JOIN {modules} m ON m.id = cm.module AND m.visible = 1
                      WHERE cm.completion > 0
                        AND cm.deletioninprogress = 0
                        AND cm.visible = 1 AND cm.visibleoncoursepage = 1         -- if moodle5
                        AND cm.course = :courseid                                 -- if :courseid
                    ) cm ON cm.id = cmc.coursemoduleid
              WHERE cmc.completionstate IN (1, 2)
                AND cmc.timemodified <= :now
                AND cmc.userid IN (SELECT dcu.userid FROM {company_users} dcu     -- if iomad :companyid
                                    WHERE dcu.companyid = :companyid)             -- if iomad :companyid
              GROUP BY cmc.userid, cm.course) done ON done.userid = ue.userid AND done.course = c.id
 WHERE ue.status = 0
   AND %%SCOPE%%
   AND ue.timestart < :now
   AND (ue.timeend = 0 OR ue.timeend > :now)
   AND c.id = :courseid                                                         -- if :courseid
   AND EXISTS (SELECT 1 FROM {company_users} fcu                                -- if iomad :companyid
                WHERE fcu.userid = u.id AND fcu.companyid = :companyid)         -- if iomad :companyid
   -- include tracked_learner
 ORDER BY ue.id
