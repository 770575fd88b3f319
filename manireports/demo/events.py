"""Standard-log events: Moodle's event classes and the rows logstore_standard writes for them.

Each event code maps to the event class's fixed properties (component, action, target, object
table, crud, education level) and to the level of context it fires in. For module events the
context instance is the course module id, as Moodle records it.
"""

from __future__ import annotations

from manireports.demo.courses import MODULES
from manireports.demo.world import World

SYSTEM, USER, COURSE, MODULE = 10, 30, 50, 70
CLI_ADDRESS = "0.0.0.0"  # noqa: S104 - a value stored in the log, not an address to bind

# code -> (eventname, component, action, target, objecttable, crud, edulevel, context level)
Template = tuple[str, str, str, str, str | None, str, int, int]
TEMPLATES: dict[str, Template] = {
    "login": ("\\core\\event\\user_loggedin", "core", "loggedin", "user", "user", "r", 0, SYSTEM),
    "logout": ("\\core\\event\\user_loggedout", "core", "loggedout", "user", "user", "r", 0,
               SYSTEM),
    "login_failed": ("\\core\\event\\user_login_failed", "core", "failed", "user_login", None,
                     "r", 0, SYSTEM),
    "loginas": ("\\core\\event\\user_loggedinas", "core", "loggedinas", "user", "user", "r", 0,
                SYSTEM),
    "dashboard": ("\\core\\event\\dashboard_viewed", "core", "viewed", "dashboard", None, "r", 0,
                  USER),
    "profile": ("\\core\\event\\user_profile_viewed", "core", "viewed", "user_profile", "user",
                "r", 0, USER),
    "course_viewed": ("\\core\\event\\course_viewed", "core", "viewed", "course", None, "r", 2,
                      COURSE),
    "grades_viewed": ("\\gradereport_user\\event\\grade_report_viewed", "gradereport_user",
                      "viewed", "grade_report", None, "r", 1, COURSE),
    "grader_viewed": ("\\gradereport_grader\\event\\grade_report_viewed", "gradereport_grader",
                      "viewed", "grade_report", None, "r", 1, COURSE),
    "participants": ("\\core\\event\\user_list_viewed", "core", "viewed", "user_list", "course",
                     "r", 0, COURSE),
    "progress_report": ("\\report_progress\\event\\report_viewed", "report_progress", "viewed",
                        "report", None, "r", 1, COURSE),
    "log_report": ("\\report_log\\event\\report_viewed", "report_log", "viewed", "report", None,
                   "r", 1, COURSE),
    "quiz_started": ("\\mod_quiz\\event\\attempt_started", "mod_quiz", "started", "attempt",
                     "quiz_attempts", "c", 2, MODULE),
    "quiz_viewed": ("\\mod_quiz\\event\\attempt_viewed", "mod_quiz", "viewed", "attempt",
                    "quiz_attempts", "r", 2, MODULE),
    "quiz_submitted": ("\\mod_quiz\\event\\attempt_submitted", "mod_quiz", "submitted", "attempt",
                       "quiz_attempts", "u", 2, MODULE),
    "quiz_reviewed": ("\\mod_quiz\\event\\attempt_reviewed", "mod_quiz", "reviewed", "attempt",
                      "quiz_attempts", "r", 2, MODULE),
    "quiz_preview": ("\\mod_quiz\\event\\attempt_preview_started", "mod_quiz", "started",
                     "attempt_preview", "quiz_attempts", "c", 1, MODULE),
    "quiz_report": ("\\mod_quiz\\event\\report_viewed", "mod_quiz", "viewed", "report", None, "r",
                    1, MODULE),
    "scorm_launched": ("\\mod_scorm\\event\\sco_launched", "mod_scorm", "launched", "sco",
                       "scorm_scoes", "r", 2, MODULE),
    "scorm_status": ("\\mod_scorm\\event\\status_submitted", "mod_scorm", "submitted", "status",
                     "scorm_scoes", "u", 2, MODULE),
    "assign_status": ("\\mod_assign\\event\\submission_status_viewed", "mod_assign", "viewed",
                      "submission_status", "assign", "r", 2, MODULE),
    "assign_submitted": ("\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted",
                         "assessable", "assign_submission", "u", 2, MODULE),
    "assign_table": ("\\mod_assign\\event\\grading_table_viewed", "mod_assign", "viewed",
                     "grading_table", "assign", "r", 1, MODULE),
    "assign_graded": ("\\mod_assign\\event\\submission_graded", "mod_assign", "graded",
                      "submission", "assign_grades", "u", 1, MODULE),
    "user_graded": ("\\core\\event\\user_graded", "core", "graded", "user", "grade_grades", "u",
                    1, COURSE),
    "forum_discussion": ("\\mod_forum\\event\\discussion_viewed", "mod_forum", "viewed",
                         "discussion", "forum_discussions", "r", 2, MODULE),
    "forum_post": ("\\mod_forum\\event\\post_created", "mod_forum", "created", "post",
                   "forum_posts", "c", 2, MODULE),
    "feedback_submitted": ("\\mod_feedback\\event\\response_submitted", "mod_feedback",
                           "submitted", "response", "feedback_completed", "c", 2, MODULE),
    "cm_completion": ("\\core\\event\\course_module_completion_updated", "core", "updated",
                      "course_module_completion", "course_modules_completion", "u", 2, MODULE),
    "course_completed": ("\\core\\event\\course_completed", "core", "completed", "course",
                         "course_completions", "u", 2, COURSE),
    "user_created": ("\\core\\event\\user_created", "core", "created", "user", "user", "c", 0,
                     USER),
    "user_deleted": ("\\core\\event\\user_deleted", "core", "deleted", "user", "user", "d", 0,
                     USER),
    "enrolled": ("\\core\\event\\user_enrolment_created", "core", "created", "user_enrolment",
                 "user_enrolments", "c", 0, COURSE),
    "unenrolled": ("\\core\\event\\user_enrolment_deleted", "core", "deleted", "user_enrolment",
                   "user_enrolments", "d", 0, COURSE),
    "role_assigned": ("\\core\\event\\role_assigned", "core", "assigned", "role", "role", "c", 0,
                      COURSE),
    "config_changed": ("\\core\\event\\config_log_created", "core", "created", "config_log",
                       "config_log", "c", 0, SYSTEM),
    "course_updated": ("\\core\\event\\course_updated", "core", "updated", "course", "course",
                       "u", 1, COURSE),
    "course_restored": ("\\core\\event\\course_restored", "core", "restored", "course", "course",
                        "c", 0, COURSE),
    "cm_created": ("\\core\\event\\course_module_created", "core", "created", "course_module",
                   "course_modules", "c", 1, MODULE),
    "token_created": ("\\core\\event\\webservice_token_created", "core", "created",
                      "webservice_token", "external_tokens", "c", 0, SYSTEM),
}  # fmt: skip
for _module in MODULES:
    TEMPLATES[f"view_{_module}"] = (
        f"\\mod_{_module}\\event\\course_module_viewed", f"mod_{_module}", "viewed",
        "course_module", _module, "r", 2, MODULE,
    )  # fmt: skip
TEMPLATES["course_completed_cron"] = TEMPLATES["course_completed"]

# A raw event: (time, code, user, course, cm, objectid, related user, other, origin, real user,
# anonymous). The log pass numbers them in time order and expands them to table rows.
Raw = tuple[int, str, int, int, int, int, int, str | None, str, int, int]


class EventRows:
    """Turns raw events into logstore_standard_log rows (all columns, in schema order)."""

    def __init__(self, world: World) -> None:
        self.cm_context: dict[int, int] = {}
        self.course_context = {course.id: course.context for course in world.catalogue.courses}
        self.user_context = {p.id: p.context or 0 for p in world.community.people}
        self.ips = {p.id: p.ip for p in world.community.people}
        for course in world.catalogue.courses:
            for activity in course.activities:
                self.cm_context[activity.id] = activity.context

    def row(self, event_id: int, raw: Raw) -> tuple[object, ...]:
        time, code, user, course, cm, objectid, related, other, origin, real, anonymous = raw
        name, component, action, target, table, crud, edulevel, level = TEMPLATES[code]
        if level == MODULE:
            context, instance = self.cm_context[cm], cm
        elif level == COURSE:
            context, instance = self.course_context[course], course
        elif level == USER:
            owner = related or user
            context, instance = self.user_context.get(owner, 1), owner
        else:
            context, instance = 1, 0
        # Command-line events carry the address Moodle falls back to without a client.
        ip = CLI_ADDRESS if origin == "cli" else self.ips.get(real or user) or "192.0.2.1"
        return (
            event_id, name, component, action, target, table, objectid if table else None, crud,
            edulevel, context, level, instance, user, course, related or None, anonymous,
            other or "null", time, origin, ip, real or None,
        )  # fmt: skip
