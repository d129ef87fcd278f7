"""Reading issue field values from create, edit and transition requests, with Jira's validation.

Jira collects every field error of a request and answers them together as
`{"errorMessages": [], "errors": {"field": "message"}}` with 400; nothing is written. `FieldInput`
mirrors that: `read()` normalises what it can and records an error for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jira_emulator.adf import adf_to_text, rich_text_in
from jira_emulator.context import Ctx
from jira_emulator.errors import JiraError
from jira_emulator.state import ChangeItem, FieldDef, Issue, Project, Site

# System fields an edit or create may set (beyond project and issuetype, handled by the caller).
SETTABLE_SYSTEM = {"summary", "description", "priority", "labels", "assignee", "reporter", "timetracking"}


@dataclass
class FieldInput:
    ctx: Ctx
    site: Site
    project: Project
    values: dict[str, Any] = field(default_factory=dict)  # field id -> normalised value
    errors: dict[str, str] = field(default_factory=dict)

    def read(self, raw: dict[str, Any], *, allowed: set[str]) -> None:
        """Normalise `raw` field values; `allowed` are the field ids on the screen."""
        for field_id, value in raw.items():
            if field_id in ("project", "issuetype"):
                continue
            definition = self.site.fields.get(field_id) or self._by_name(field_id)
            if definition is None or definition.id not in allowed:
                self.errors[field_id] = (
                    f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."
                )
                continue
            try:
                self.values[definition.id] = self._normalise(definition, value)
            except ValueError as exc:
                self.errors[definition.id] = str(exc)

    def require(self, field_ids: list[str]) -> None:
        for field_id in field_ids:
            value = self.values.get(field_id)
            if field_id not in self.errors and (value is None or value in ("", [])):
                name = self.site.fields[field_id].name if field_id in self.site.fields else field_id
                self.errors[field_id] = f"{name} is required."

    def raise_errors(self) -> None:
        if self.errors:
            raise JiraError(400, errors=self.errors)

    def _by_name(self, name: str) -> FieldDef | None:
        return next((f for f in self.site.fields.values() if f.custom and f.name == name), None)

    def _normalise(self, f: FieldDef, value: Any) -> Any:
        if f.id == "summary":
            if not isinstance(value, str) or not value.strip():
                raise ValueError("You must specify a summary of the issue.")
            if len(value) > 255:
                raise ValueError("Summary must be less than 255 characters.")
            return value
        if f.id == "description":
            return rich_text_in(value, self.ctx.api_version)
        if f.id == "priority":
            return self._priority(value)
        if f.id == "resolution":
            return self._resolution(value)
        if f.id == "labels":
            return _labels(value)
        if f.id in ("assignee", "reporter"):
            return self._user(value, f.id)
        if f.id == "timetracking":
            return _timetracking(value)
        return self._custom(f, value)

    def _priority(self, value: Any) -> str | None:
        if value is None:
            return None
        ref = value.get("id") or value.get("name") if isinstance(value, dict) else None
        priority = self.site.priority_by_ref(str(ref)) if ref else None
        if priority is None:
            raise ValueError(
                f"The priority selected is invalid. Could not find priority by id or name: {ref}"
            )
        return priority.id

    def _resolution(self, value: Any) -> str | None:
        """A resolution by `{"name": …}` or `{"id": …}`; its name (resolutions are kept by name)."""
        if value is None:
            return None
        ref = str(value.get("name") or value.get("id") or "") if isinstance(value, dict) else ""
        names = self.site.resolutions
        by_id = {str(10000 + i): name for i, name in enumerate(names)}
        found = ref if ref in names else by_id.get(ref)
        if found is None:
            raise ValueError(f"Could not find resolution by id or name: '{ref}'")
        return found

    def _user(self, value: Any, field_id: str) -> str | None:
        if value is None:
            return None
        account_id = value.get("accountId") or value.get("id") if isinstance(value, dict) else None
        if not account_id or account_id not in self.ctx.state.accounts:
            raise ValueError("Specified user does not exist or you do not have required permissions")
        if field_id == "assignee" and not self.project.has_permission(account_id, "ASSIGNABLE_USER"):
            raise ValueError(f"User '{account_id}' cannot be assigned issues.")
        return str(account_id)

    def _custom(self, f: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if f.schema_type == "option":
            chosen = value.get("value") if isinstance(value, dict) else None
            if isinstance(value, dict) and "id" in value and chosen is None:
                options = f.allowed_values or []
                index = int(str(value["id"])) - 10000 if str(value["id"]).isdigit() else -1
                chosen = options[index] if 0 <= index < len(options) else None
            if chosen not in (f.allowed_values or []):
                raise ValueError(f"Option value '{chosen}' is not valid")
            return chosen
        if f.schema_type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("Operation value must be a number")
            return value
        if f.schema_type == "array":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("Operation value must be an array of strings")
            return list(value)
        if f.schema_type == "user":
            return self._user(value, f.id)
        if not isinstance(value, str):
            raise ValueError("Operation value must be a string")
        if len(value) > 255:
            raise ValueError(f"{f.name}: the text is longer than the limit of 255 characters.")
        return value


def _labels(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("Operation value must be an array of strings")
    for label in value:
        if not label or " " in label:
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise ValueError("The label must not exceed 255 characters.")
    return list(dict.fromkeys(value))


def parse_duration(text: str) -> int:
    """Jira's duration syntax (`1w 2d 3h 30m`, 8-hour days, 5-day weeks) to seconds."""
    sizes = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60, "s": 1}
    total = 0
    for part in text.split():
        unit = part[-1].lower()
        number = part[:-1] if unit in sizes else part
        if not number.replace(".", "", 1).isdigit():
            raise ValueError(f"Invalid duration '{text}'")
        total += int(float(number) * sizes.get(unit, 60))
    if not text.split():
        raise ValueError("Invalid duration ''")
    return total


def _timetracking(value: Any) -> tuple[int | None, int | None]:
    if not isinstance(value, dict):
        raise ValueError("Operation value must be an object")
    original = value.get("originalEstimate")
    remaining = value.get("remainingEstimate")
    return (
        parse_duration(original) if original else None,
        parse_duration(remaining) if remaining else None,
    )


def apply_values(ctx: Ctx, issue: Issue, values: dict[str, Any]) -> list[ChangeItem]:
    """Write normalised values to the issue and return the changelog items Jira would record."""
    items: list[ChangeItem] = []
    for field_id, new in values.items():
        if field_id == "timetracking":
            items.extend(_apply_timetracking(issue, new))
            continue
        old = _current(issue, field_id)
        if old == new:
            continue
        _store(issue, field_id, new)
        items.append(_change_item(ctx, field_id, old, new))
    return items


def _current(issue: Issue, field_id: str) -> Any:
    if field_id in ("summary", "description", "priority", "labels", "assignee", "reporter"):
        return getattr(issue, field_id)
    return issue.custom.get(field_id)


def _store(issue: Issue, field_id: str, value: Any) -> None:
    if field_id in ("summary", "description", "priority", "labels", "assignee", "reporter"):
        setattr(issue, field_id, value)
    else:
        issue.custom[field_id] = value


def _apply_timetracking(issue: Issue, new: tuple[int | None, int | None]) -> list[ChangeItem]:
    original, remaining = new
    items = []
    if original is not None and original != issue.original_estimate_seconds:
        items.append(_seconds_item("timeoriginalestimate", issue.original_estimate_seconds, original))
        issue.original_estimate_seconds = original
        if remaining is None and issue.remaining_estimate_seconds is None:
            remaining = original  # Jira starts the remaining estimate at the original one
    if remaining is not None and remaining != issue.remaining_estimate_seconds:
        items.append(_seconds_item("timeestimate", issue.remaining_estimate_seconds, remaining))
        issue.remaining_estimate_seconds = remaining
    return items


def _seconds_item(field_id: str, old: int | None, new: int | None) -> ChangeItem:
    return ChangeItem(
        field=field_id,
        field_id=field_id,
        fieldtype="jira",
        from_value=None if old is None else str(old),
        from_string=None if old is None else str(old),
        to_value=None if new is None else str(new),
        to_string=None if new is None else str(new),
    )


def _change_item(ctx: Ctx, field_id: str, old: Any, new: Any) -> ChangeItem:
    site = ctx.site
    f = site.fields.get(field_id)
    custom = bool(f and f.custom)
    name = f.name if (f and custom) else field_id
    if field_id in ("assignee", "reporter"):
        return ChangeItem(name, field_id, "jira", old, _display(ctx, old), new, _display(ctx, new))
    if field_id == "priority":
        old_p = site.priority_by_ref(old) if old else None
        new_p = site.priority_by_ref(new) if new else None
        return ChangeItem(
            "priority",
            "priority",
            "jira",
            old,
            old_p.name if old_p else None,
            new,
            new_p.name if new_p else None,
        )
    return ChangeItem(
        name, field_id, "custom" if custom else "jira", None, _as_text(old), None, _as_text(new)
    )


def _display(ctx: Ctx, account_id: str | None) -> str | None:
    account = ctx.state.accounts.get(account_id) if account_id else None
    return account.display_name if account else None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return adf_to_text(value)
    return str(value)
