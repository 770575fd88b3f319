-- scorm_summary: the SCORM tracking values that a per-(user, SCORM activity) summary needs,
-- streamed user by user. manireports/reports/scorm.py folds each user's rows into one report row
-- per SCORM activity: SCORM time formats and Moodle's grading rules cannot be written portably in
-- SQL. The rules themselves are stated there.
--
-- One row per kept tracking value (one per attempt with no kept value, on 4.3+ sites):
--   the activity and the user, the activity's grading settings (version, grademethod,
--   whatgrade, maxattempt), then attempt, scoid, scormtype and sortorder (of the scorm_scoes
--   row the value belongs to: 'sco' or 'asset'; NULL for a SCO no longer in this activity's
--   package), element, value, timemodified.
--
-- Only these elements are read (a SCO writes dozens: interactions, suspend data, ...):
--   x.start.time              written by Moodle's player when a SCO of an attempt is launched,
--                             so every attempt has one (counts attempts before 4.3);
--   cmi.core.lesson_status    SCORM 1.2 status;
--   cmi.completion_status, cmi.success_status    SCORM 2004 status;
--   cmi.core.score.raw, cmi.score.raw            raw scores;
--   cmi.core.total_time, cmi.total_time          time spent per SCO and attempt;
--   cmi.core.session_time, cmi.session_time      rewritten at each commit: last access.
-- Keep the two element lists below the same.
--
-- Moodle 4.3 and later (mod_scorm 2023042403): one scorm_attempt row per attempt (numbering may
-- start above 1, attempts without a value still count), values in scorm_scoes_value, element
-- names in scorm_element. An attempt's values are found through scorm_scoes_value's attemptid
-- index, the ten element ids once through scorm_element's unique element index.
-- Before 4.3: scorm_scoes_track. Its unique index (userid, scormid, scoid, attempt, element)
-- serves both the user order and the element filter, so read user by user (user in primary-key
-- order) the rows stream without a sort or a temporary table.
--
-- Only the user order is asked for: the Python step holds one user's rows and splits them by
-- activity itself, which keeps the database free to stream in the order of that index.
SELECT s.id AS scormid,
       s.name AS scorm_name,
       s.course AS courseid,
       u.id AS userid,
       u.username,
       s.version,
       s.grademethod,
       s.whatgrade,
       s.maxattempt,
       a.attempt,                                                               -- if scorm43
       v.attempt,                                                               -- if !scorm43
       v.scoid,
       sc.scormtype,
       sc.sortorder,
       e.element,                                                               -- if scorm43
       v.element,                                                               -- if !scorm43
       v.value,
       v.timemodified
  FROM {scorm_attempt} a                                                        -- if scorm43
  JOIN {scorm} s ON s.id = a.scormid                                            -- if scorm43
  JOIN {user} u ON u.id = a.userid                                              -- if scorm43
  LEFT JOIN {scorm_scoes_value} v ON v.attemptid = a.id                         -- if scorm43
        AND v.elementid IN (SELECT ke.id FROM {scorm_element} ke WHERE ke.element IN ( -- if scorm43
            'x.start.time', 'cmi.core.lesson_status',                           -- if scorm43
            'cmi.completion_status', 'cmi.success_status',                      -- if scorm43
            'cmi.core.score.raw', 'cmi.score.raw',                              -- if scorm43
            'cmi.core.total_time', 'cmi.total_time',                            -- if scorm43
            'cmi.core.session_time', 'cmi.session_time'))                       -- if scorm43
  LEFT JOIN {scorm_element} e ON e.id = v.elementid                             -- if scorm43
  FROM {scorm_scoes_track} v                                                    -- if !scorm43
  JOIN {scorm} s ON s.id = v.scormid                                            -- if !scorm43
  JOIN {user} u ON u.id = v.userid                                              -- if !scorm43
  LEFT JOIN {scorm_scoes} sc ON sc.id = v.scoid AND sc.scorm = s.id
 WHERE u.deleted = 0
   AND %%SCOPE%%
   AND v.element IN (                                                           -- if !scorm43
            'x.start.time', 'cmi.core.lesson_status',                           -- if !scorm43
            'cmi.completion_status', 'cmi.success_status',                      -- if !scorm43
            'cmi.core.score.raw', 'cmi.score.raw',                              -- if !scorm43
            'cmi.core.total_time', 'cmi.total_time',                            -- if !scorm43
            'cmi.core.session_time', 'cmi.session_time')                        -- if !scorm43
   AND s.course = :courseid                                                     -- if :courseid
   AND s.id = :scormid                                                          -- if :scormid
   AND EXISTS (SELECT 1 FROM {company_users} cu                                 -- if iomad :companyid
                WHERE cu.userid = u.id AND cu.companyid = :companyid)           -- if iomad :companyid
 ORDER BY u.id
