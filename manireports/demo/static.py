"""Rows for everything decided up front: configuration, catalogue, roles, enrolments, IOMAD."""

from __future__ import annotations

from manireports.demo.courses import DISABLED_MODULES, MODULE_IDS, MODULES
from manireports.demo.ids import Emit, Row
from manireports.demo.people import IOMAD_ROLES, ROLES
from manireports.demo.scorm_tracks import ELEMENTS
from manireports.demo.sizes import DAY
from manireports.demo.world import World

CAPABILITIES = (
    # (role, capability): granted (permission 1) in the system context, as the archetypes are.
    ("student", "moodle/course:isincompletionreports"),
    ("student", "mod/quiz:attempt"),
    ("student", "mod/scorm:savetrack"),
    ("student", "mod/assign:submit"),
    ("student", "moodle/grade:view"),
    ("teacher", "moodle/grade:viewall"),
    ("teacher", "mod/quiz:preview"),
    ("teacher", "report/progress:view"),
    ("editingteacher", "moodle/grade:viewall"),
    ("editingteacher", "moodle/course:update"),
    ("editingteacher", "mod/quiz:preview"),
    ("editingteacher", "report/progress:view"),
    ("manager", "moodle/site:viewreports"),
    ("manager", "report/log:view"),
    ("manager", "moodle/grade:viewall"),
    ("coursecreator", "moodle/course:create"),
    ("guest", "mod/page:view"),
    ("user", "moodle/user:viewdetails"),
)
IOMAD_CAPABILITIES = (
    ("companymanager", "block/iomad_company_admin:company_view"),
    ("companymanager", "local/report_completion:view"),
    ("companydepartmentmanager", "local/report_completion:view"),
    ("companyreporter", "local/report_completion:view"),
    ("companycourseeditor", "moodle/course:update"),
    ("companycoursenoneditor", "moodle/grade:viewall"),
)
PLUGINS = (
    "mod_assign",
    "mod_forum",
    "mod_page",
    "mod_quiz",
    "mod_resource",
    "mod_scorm",
    "mod_url",
    "mod_feedback",
    "enrol_manual",
    "enrol_self",
    "enrol_cohort",
    "tool_log",
    "logstore_standard",
)


def configuration(world: World, emit: Emit) -> None:
    release = world.release
    settings = {
        "version": release.version,
        "release": release.release_string,
        "branch": release.branch,
        "siteidentifier": "d3m0f1a8c0ffee00d3m0f1a8c0ffee00northwind.example",
        "siteadmins": "2,3",
        "siteguest": "1",
        "mnet_localhost_id": "1",
        "timezone": "Europe/London",
        "forcetimezone": "99",
        "lang": "en",
        "enablecompletion": "1",
        "completiondefault": "1",
        "enableavailability": "1",
        "enrol_plugins_enabled": "manual,guest,self,cohort" + (",license" if world.iomad else ""),
        "auth": "email",
        "registerauth": "email",
        "guestloginbutton": "1",
        "sessiontimeout": "28800",
        "gradepointdefault": "100",
        "defaulthomepage": "1",
        "theme": "iomadboost" if world.iomad else "boost",
        "allversionshash": "",
    }
    for number, (name, value) in enumerate(settings.items(), start=2):  # 1 is the demo marker
        emit("config", {"id": number, "name": name, "value": value})
    plugins: list[tuple[str, str, str]] = [(p, "version", release.version) for p in PLUGINS]
    plugins += [
        ("tool_log", "enabled_stores", "logstore_standard"),
        ("logstore_standard", "logguests", "1"),
        ("logstore_standard", "loglifetime", "0"),
    ]
    if world.iomad:
        plugins.append(("local_iomad", "version", release.iomad_version))
        plugins.append(("local_iomad", "release", release.name))
    for number, (plugin, name, value) in enumerate(plugins, start=1):
        emit("config_plugins", {"id": number, "plugin": plugin, "name": name, "value": value})


def catalogue(world: World, emit: Emit) -> None:
    for category in world.catalogue.categories:
        emit(
            "course_categories",
            {
                "id": category.id,
                "name": category.name,
                "idnumber": f"CAT{category.id}",
                "description": "",
                "descriptionformat": 1,
                "parent": category.parent,
                "sortorder": category.id * 10000,
                "coursecount": category.courses,
                "visible": category.visible,
                "visibleold": category.visible,
                "timemodified": world.clock.days_ago(3 * 365),
                "depth": category.depth,
                "path": category.path,
            },
        )
    for name in MODULES:
        emit(
            "modules",
            {"id": MODULE_IDS[name], "name": name, "visible": 0 if name in DISABLED_MODULES else 1},
        )
    for course in world.catalogue.courses:
        site = course.id == 1
        emit(
            "course",
            {
                "id": course.id,
                "category": course.category,
                "sortorder": 10000 + course.id,
                "fullname": course.fullname,
                "shortname": course.shortname,
                "idnumber": "" if site else f"C{course.id:04d}",
                "summary": f"<p>{course.fullname}</p>",
                "summaryformat": 1,
                "format": "site" if site else "topics",
                "newsitems": 3 if site else 5,
                "startdate": course.startdate,
                "enddate": course.enddate,
                "visible": course.visible,
                "visibleold": course.visible,
                "enablecompletion": course.enablecompletion,
                "showcompletionconditions": 1,
                "timecreated": course.timecreated,
                "timemodified": course.timecreated + DAY,
                "cacherev": course.timecreated,
            },
        )
        for section_id, number, title, visible in course.sections:
            sequence = ",".join(str(a.id) for a in course.activities if a.section == section_id)
            emit(
                "course_sections",
                {
                    "id": section_id,
                    "course": course.id,
                    "section": number,
                    "name": title,
                    "summary": "",
                    "summaryformat": 1,
                    "sequence": sequence,
                    "visible": visible,
                    "timemodified": course.timecreated,
                },
            )
        for activity in course.activities:
            graded = activity.module == "quiz" and activity.completion == 2
            emit(
                "course_modules",
                {
                    "id": activity.id,
                    "course": course.id,
                    "module": MODULE_IDS[activity.module],
                    "instance": activity.instance,
                    "section": activity.section,
                    "idnumber": "",
                    "added": activity.added,
                    "visible": activity.visible,
                    "visibleoncoursepage": activity.on_page,
                    "visibleold": activity.visible,
                    "completion": activity.completion,
                    "completiongradeitemnumber": 0 if graded else None,
                    "completionview": int(activity.view),
                    "completionexpected": 0,
                    "completionpassgrade": int(activity.passgrade),
                    "availability": activity.availability,
                    "deletioninprogress": int(activity.deleting),
                },
            )
    for context_id, level, instance, path, depth in world.contexts.rows:
        if context_id not in world.removed_contexts:
            emit(
                "context",
                {
                    "id": context_id,
                    "contextlevel": level,
                    "instanceid": instance,
                    "path": path,
                    "depth": depth,
                    "locked": 0,
                },
            )


def activities(world: World, emit: Emit) -> None:
    catalogue = world.catalogue
    slot_id = aggregation_id = 0
    for quiz in catalogue.quizzes:
        activity = quiz.activity
        emit(
            "quiz",
            {
                "id": quiz.id,
                "course": activity.course,
                "name": activity.name,
                "intro": "",
                "introformat": 1,
                "timelimit": quiz.timelimit,
                "overduehandling": "autosubmit",
                "preferredbehaviour": "deferredfeedback",
                "attempts": quiz.attempts,
                "grademethod": quiz.grademethod,
                "decimalpoints": 2,
                "reviewattempt": 69888,
                "reviewcorrectness": 4352,
                "reviewmarks": 4352,
                "reviewmaxmarks": 69888,
                "reviewspecificfeedback": 4352,
                "reviewgeneralfeedback": 4352,
                "reviewrightanswer": 4352,
                "reviewoverallfeedback": 4352,
                "questionsperpage": 1,
                "sumgrades": quiz.sumgrades,
                "grade": quiz.grade,
                "timecreated": activity.added,
                "timemodified": activity.added,
                "password": "",
                "subnet": "",
                "browsersecurity": "-",
                "precreateattempts": int(quiz.precreate) if world.release.quiz_states_50 else None,
            },
        )
        for slot, mark in enumerate(quiz.marks, start=1):
            slot_id += 1
            emit(
                "quiz_slots",
                {
                    "id": slot_id,
                    "slot": slot,
                    "quizid": quiz.id,
                    "page": slot,
                    "requireprevious": 0,
                    "maxmark": mark,
                },
            )
    for scorm in catalogue.scorms:
        activity = scorm.activity
        emit(
            "scorm",
            {
                "id": scorm.id,
                "course": activity.course,
                "name": activity.name,
                "reference": f"{activity.name}.zip",
                "intro": "",
                "introformat": 1,
                "version": scorm.version,
                "maxgrade": scorm.maxgrade,
                "grademethod": scorm.grademethod,
                "whatgrade": scorm.whatgrade,
                "maxattempt": scorm.maxattempt,
                "md5hash": "",
                "sha1hash": f"{scorm.id:040x}",
                "revision": 1,
                "launch": scorm.scos[0],
                "options": "",
                "timemodified": activity.added,
                "completionstatusrequired": 4,
                "completionscorerequired": None,
                "completionstatusallscos": 0,
            },
        )
        for row in scorm.rows:
            emit("scorm_scoes", row)
    if world.release.scorm == "43plus":
        for number, element in enumerate(ELEMENTS, start=1):
            emit("scorm_element", {"id": number, "element": element})
    for course in catalogue.courses[1:]:
        emit(
            "grade_items",
            {
                "id": course.course_item,
                "courseid": course.id,
                "itemtype": "course",
                "iteminstance": course.id,
                "gradetype": 1,
                "grademax": 100,
                "grademin": 0,
                "sortorder": 1,
                "timecreated": course.timecreated,
                "timemodified": course.timecreated,
            },
        )
        for sortorder, activity in enumerate(course.activities, start=2):
            if activity.grade_item is None:
                continue
            emit(
                "grade_items",
                {
                    "id": activity.grade_item,
                    "courseid": course.id,
                    "categoryid": course.id,
                    "itemname": activity.name,
                    "itemtype": "mod",
                    "itemmodule": activity.module,
                    "iteminstance": activity.instance,
                    "itemnumber": 0,
                    "gradetype": 1,
                    "grademax": activity.grademax,
                    "grademin": 0,
                    "gradepass": activity.gradepass,
                    "sortorder": sortorder,
                    "hidden": int(activity.grade_hidden),
                    "timecreated": activity.added,
                    "timemodified": activity.added,
                },
            )
        for activity in course.criteria:
            emit(
                "course_completion_criteria",
                {
                    "id": course.criteria_ids[activity.id],
                    "course": course.id,
                    "criteriatype": 4,
                    "module": activity.module,
                    "moduleinstance": activity.id,
                },
            )
        if course.criteria:
            for criteriatype, method in ((None, 1), (4, course.aggregation)):
                aggregation_id += 1
                emit(
                    "course_completion_aggr_methd",
                    {
                        "id": aggregation_id,
                        "course": course.id,
                        "criteriatype": criteriatype,
                        "method": method,
                        "value": None,
                    },
                )


def roles(world: World, emit: Emit) -> None:
    community = world.community
    definitions = ROLES + (IOMAD_ROLES if world.iomad else ())
    for shortname, name, archetype in definitions:
        role_id = community.roles[shortname]
        emit(
            "role",
            {
                "id": role_id,
                "name": name,
                "shortname": shortname,
                "description": "",
                "sortorder": role_id,
                "archetype": archetype,
            },
        )
    grants = CAPABILITIES + (IOMAD_CAPABILITIES if world.iomad else ())
    rows = [(1, role, capability) for role, capability in grants]
    # One course lets non-editing teachers show up in its completion reports.
    rows.append(
        (world.catalogue.courses[4].context, "teacher", "moodle/course:isincompletionreports")
    )
    for number, (context, role, capability) in enumerate(rows, start=1):
        emit(
            "role_capabilities",
            {
                "id": number,
                "contextid": context,
                "roleid": community.roles[role],
                "capability": capability,
                "permission": 1,
                "timemodified": world.clock.days_ago(900),
                "modifierid": 2,
            },
        )
    for row in community.enrol:
        emit("enrol", row)
    for row in sorted(community.enrolments, key=_id):
        emit("user_enrolments", row)
    for row in community.assignments:
        emit("role_assignments", row)


def groups(world: World, emit: Emit) -> None:
    community = world.community
    for row in community.cohorts:
        emit("cohort", row)
    for number, row in enumerate(community.cohort_members, start=1):
        emit("cohort_members", row | {"id": number})
    for row in community.groups:
        emit("groups", row)
    for number, row in enumerate(community.group_members, start=1):
        emit("groups_members", row | {"id": number})


def companies(world: World, emit: Emit) -> None:
    names = world.names
    community = world.community
    people = [p for p in community.people if not p.deleted_at]
    member_id = course_link = 0
    for company in community.companies:
        emit(
            names.company,
            {
                "id": company.id,
                "name": company.name,
                "shortname": company.shortname,
                "code": company.shortname.upper(),
                "city": company.city,
                "country": company.country,
                "theme": "iomadboost",
                names.company_category: company.category,
                "parentid": company.parent,
                "suspended": 0,
                names.company_terminated: 0,
                "maxusers": 0,
                "hostname": None,
                "validto": None,
            },
        )
        for department in company.departments:
            emit(
                names.department,
                {
                    "id": department.id,
                    "name": department.name,
                    "shortname": department.shortname,
                    names.department_company: company.id,
                    names.department_parent: department.parent,
                },
            )
        for course_id, department_id in company.courses:
            course_link += 1
            emit(
                names.company_course,
                {
                    "id": course_link,
                    "companyid": company.id,
                    "courseid": course_id,
                    "departmentid": department_id,
                },
            )
    for person in people:
        for member in person.memberships:
            member_id += 1
            emit(
                names.company_users,
                {
                    "id": member_id,
                    "companyid": member.company,
                    "userid": person.id,
                    "managertype": member.managertype,
                    "departmentid": member.department,
                    "suspended": member.suspended,
                    "educator": member.educator,
                    "lastused": None,
                },
            )
    shared_id = 0
    for course in world.catalogue.courses[1:]:
        shared = community.shared.get(course.id, 0)
        licensed = int(course.id in community.licensed)
        emit(
            names.iomad_courses,
            {
                "id": course.id - 1,
                "courseid": course.id,
                "licensed": licensed,
                "shared": shared,
                "validlength": 365 if licensed else 0,
                "warnexpire": 0,
                "warncompletion": 0,
                "notifyperiod": 0,
                "expireafter": 365 if course.id % 5 == 0 else 0,
                "warnnotstarted": 0,
                "hasgrade": 1,
            },
        )
        if shared == 2:
            for company in community.companies:
                if any(c == course.id for c, _ in company.courses):
                    shared_id += 1
                    emit(
                        names.shared_courses,
                        {"id": shared_id, "companyid": company.id, "courseid": course.id},
                    )


def keys(world: World, emit: Emit) -> None:
    """A few RSS/calendar private keys, as teachers create them."""
    teachers = [p for p in world.community.people if p.kind == "teacher"][:5]
    for number, person in enumerate(teachers, start=1):
        emit(
            "user_private_key",
            {
                "id": number,
                "script": "core_calendar",
                "value": f"{person.id * 7919:032x}",
                "userid": person.id,
                "instance": None,
                "iprestriction": None,
                "validuntil": None,
                "timecreated": person.timecreated + DAY,
            },
        )


def _id(row: Row) -> int:
    value = row["id"]
    return value if isinstance(value, int) else 0


def emit_static(world: World, emit: Emit) -> None:
    configuration(world, emit)
    catalogue(world, emit)
    activities(world, emit)
    roles(world, emit)
    groups(world, emit)
    if world.iomad:
        companies(world, emit)
    keys(world, emit)
