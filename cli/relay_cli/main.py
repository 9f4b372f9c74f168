"""relay: the ops command line of the Invoice Relay management API.

    relay login                      sign in (Cognito), once per API URL
    relay connectors list            every connector and its health
    relay runs acme-st               its latest runs; relay logs RUN_ID: what one run did
    relay where 1042                 where invoice 1042 is, in every connector

`--api URL` (or RELAY_API) picks the API: `make api` locally, or the deployed stage URL. `--json` prints the
API's JSON as it came instead of tables. Errors print `Error: ...` on stderr and exit with code 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import requests

from relay_cli import __version__
from relay_cli.client import ApiError, Client, api_path
from relay_cli.output import emit_json, fields, table
from relay_cli.session import Session, SessionStore, sign_in

DEFAULT_API = "http://127.0.0.1:3000"
RUN_KINDS = ("poll", "export", "catalog", "bundle")


@dataclass
class App:
    api: str
    as_json: bool = False
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def store(self) -> SessionStore:
        return SessionStore()

    @property
    def client(self) -> Client:
        return Client(self.api, Session(self.api, self.store, self.http), self.http)

    def show(self, data: Any, render: Callable[[Any], str]) -> None:
        """The API's JSON with --json, else the rendered text."""
        if self.as_json:
            emit_json(data)
        else:
            click.echo(render(data))


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(App).as_json = True


# accepted after a subcommand too: `relay connectors list --json` as well as `relay --json connectors list`
json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    help="Print the API's raw JSON instead of tables.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api",
    envvar="RELAY_API",
    default=DEFAULT_API,
    show_default=True,
    metavar="URL",
    help="Management API base URL (env RELAY_API): `make api`, or https://<id>.execute-api.<region>"
    ".amazonaws.com/<stage>.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's raw JSON instead of tables.")
@click.version_option(__version__, prog_name="relay")
@click.pass_context
def cli(ctx: click.Context, api: str, as_json: bool) -> None:
    """Operate Invoice Relay: connectors, runs, logs, documents, dead letters, export files."""
    ctx.obj = App(api=api.rstrip("/"), as_json=as_json)


pass_app = click.pass_obj


def _read_json(handle: Any, what: str) -> dict[str, Any]:
    """A JSON object from a file; the error names the file and position, never its content."""
    name = getattr(handle, "name", what)
    try:
        data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{name}: {what} must be a JSON object")
    return data


# --------------------------------------------------------------------------------------------- sign-in


@cli.command()
@click.option("--username", "-u", envvar="RELAY_USERNAME", help="Cognito user name (asked if not given).")
@click.option(
    "--password",
    envvar="RELAY_PASSWORD",
    help="Password (env RELAY_PASSWORD; asked, hidden, if not given: prefer that).",
)
@click.option(
    "--new-password",
    envvar="RELAY_NEW_PASSWORD",
    help="Permanent password to set when Cognito requires one (first sign-in); asked if needed.",
)
@json_option
@pass_app
def login(app: App, username: str | None, password: str | None, new_password: str | None) -> None:
    """Sign in to the API's Cognito user pool; the tokens are cached (0600) for the next commands."""
    client = app.client
    config = client.get("/admin/config.json", auth=False)
    if not isinstance(config, dict):
        raise click.ClickException(f"{app.api}/admin/config.json is not the sign-in configuration")
    username = username or click.prompt("Username")
    password = password or click.prompt("Password", hide_input=True)

    def ask_new_password() -> str:
        if new_password:
            return new_password
        click.echo("Cognito requires a new permanent password for this user.", err=True)
        return click.prompt("New password", hide_input=True, confirmation_prompt=True)

    entry = sign_in(config, username, password, ask_new_password, app.http)
    app.store.put(app.api, entry)
    try:
        who = client.get("/me")
    except ApiError:  # signed in all the same; the role is only shown
        who = None
    who = {"api": app.api, **who} if isinstance(who, dict) else {"api": app.api, "username": username}
    role = f" ({who['role']})" if who.get("role") else ""
    app.show(who, lambda m: f"Signed in to {app.api} as {m.get('username') or username}{role}.")


@cli.command()
@json_option
@pass_app
def logout(app: App) -> None:
    """Forget the cached session of this API."""
    removed = app.store.remove(app.api)
    text = f"Signed out of {app.api}." if removed else f"Not signed in to {app.api}."
    app.show({"api": app.api, "signed_out": removed}, lambda _: text)


@cli.command()
@json_option
@pass_app
def me(app: App) -> None:
    """Who you are signed in as, and your role."""
    app.show(
        app.client.get("/me"),
        lambda m: fields([("User", m.get("username")), ("Role", m.get("role")), ("Groups", m.get("groups"))]),
    )


# ------------------------------------------------------------------------------------------ connectors


def _last_run(run: dict[str, Any] | None) -> str | None:
    if not run:
        return None
    return f"{run.get('kind')} {run.get('status')} {run.get('finished_at') or run.get('started_at') or ''}"


def _waiting(health: dict[str, Any]) -> str:
    waiting, held = health.get("documents_waiting"), health.get("held")
    text = "-" if waiting is None else str(waiting)
    return f"{text} ({held} held)" if held else text


def render_connectors(data: dict[str, Any]) -> str:
    connectors = data.get("connectors") or []
    if not connectors:
        return "No connectors yet: relay connectors create FILE.json"
    rows = []
    for c in connectors:
        health = c.get("health") or {}
        rows.append(
            [
                c.get("connector_id"),
                c.get("name"),
                c.get("status"),
                _last_run(health.get("last_run")),
                health.get("last_success_at"),
                health.get("failing_streak"),
                _waiting(health),
                health.get("dead_letters"),
            ]
        )
    headers = ["ID", "NAME", "STATUS", "LAST RUN", "LAST SUCCESS", "FAILING", "WAITING", "DLQ"]
    return table(headers, rows)


def _side_config(config: Any) -> Any:
    """A side's configuration, its system first (secret fields hold Secrets Manager names, not secrets)."""
    if not isinstance(config, dict) or "system" not in config:
        return config
    return {"system": config["system"], **{k: v for k, v in config.items() if k != "system"}}


def render_connector(c: dict[str, Any]) -> str:
    health = c.get("health") or {}
    status = c.get("status") or "-"
    if c.get("paused_reason"):
        status += f" ({c['paused_reason']})"
    credentials = [
        f"{item.get('side')}.{item.get('field')} {'stored' if item.get('stored') else 'missing'}"
        for item in c.get("credentials") or []
    ]
    block = fields(
        [
            ("ID", c.get("connector_id")),
            ("Name", c.get("name")),
            ("Status", status),
            ("Flows", c.get("flows")),
            ("Source", _side_config(c.get("source"))),
            ("Target", _side_config(c.get("target"))),
            ("Credentials", credentials),
            ("Failure limit", c.get("failure_limit")),
            ("Last run", _last_run(health.get("last_run"))),
            ("Last success", health.get("last_success_at")),
            ("Failing streak", health.get("failing_streak")),
            ("Waiting", health.get("documents_waiting")),
            ("Held", health.get("held")),
            ("Dead letters", health.get("dead_letters")),
            ("Created", c.get("created_at")),
            ("Updated", c.get("updated_at")),
        ]
    )
    schedules = c.get("schedules") or []
    if schedules:
        rows = [
            [s.get("run"), s.get("expression"), s.get("timezone"), s.get("state"), s.get("name")]
            for s in schedules
        ]
        block += "\n\n" + table(["RUN", "SCHEDULE", "TIMEZONE", "STATE", "NAME"], rows)
    return block


@cli.group()
def connectors() -> None:
    """List, inspect, create, change, start, pause, delete and run connectors."""


@connectors.command("list")
@json_option
@pass_app
def connectors_list(app: App) -> None:
    """Every connector: status and health."""
    app.show(app.client.get("/connectors"), render_connectors)


@connectors.command("show")
@click.argument("connector_id")
@json_option
@pass_app
def connectors_show(app: App, connector_id: str) -> None:
    """One connector: configuration, schedules, credentials stored (never their content), health."""
    app.show(app.client.get(api_path("connectors", connector_id)), render_connector)


credentials_option = click.option(
    "--credentials",
    "credentials_file",
    type=click.File("r"),
    metavar="FILE.json",
    help='Secrets, write-only: {"source": {"credentials_secret": {"client_id": ..., ...}}, "target": {...}}.',
)


def _with_credentials(body: dict[str, Any], credentials_file: Any) -> dict[str, Any]:
    if credentials_file is not None:
        body["credentials"] = _read_json(credentials_file, "the credentials")
    return body


@connectors.command("create")
@click.argument("file", type=click.File("r"), metavar="FILE.json")
@credentials_option
@json_option
@pass_app
def connectors_create(app: App, file: Any, credentials_file: Any) -> None:
    """Create a connector from FILE.json (the API's ConnectorInput; `-` reads stdin). It starts paused."""
    body = _with_credentials(_read_json(file, "the connector"), credentials_file)
    created = app.client.post("/connectors", body)
    app.show(
        created,
        lambda c: (
            f"Created connector {c.get('connector_id')} ({c.get('status')}): "
            f"relay connectors start {c.get('connector_id')}\n\n{render_connector(c)}"
        ),
    )


@connectors.command("update")
@click.argument("connector_id")
@click.argument("file", type=click.File("r"), metavar="FILE.json")
@credentials_option
@json_option
@pass_app
def connectors_update(app: App, connector_id: str, file: Any, credentials_file: Any) -> None:
    """Replace a connector's configuration with FILE.json; stored credentials stay unless --credentials."""
    body = _read_json(file, "the connector")
    named = body.pop("connector_id", connector_id)
    if named != connector_id:
        raise click.ClickException(f"{file.name} is connector {named!r}, not {connector_id!r}")
    updated = app.client.put(api_path("connectors", connector_id), _with_credentials(body, credentials_file))
    app.show(updated, lambda c: f"Updated connector {connector_id}.\n\n{render_connector(c)}")


def _state_line(c: dict[str, Any]) -> str:
    reason = f" ({c['paused_reason']})" if c.get("status") == "paused" and c.get("paused_reason") else ""
    return f"Connector {c.get('connector_id')} is {c.get('status')}{reason}."


@connectors.command("start")
@click.argument("connector_id")
@json_option
@pass_app
def connectors_start(app: App, connector_id: str) -> None:
    """Enable a connector's schedules (and webhooks)."""
    app.show(app.client.post(api_path("connectors", connector_id, "start")), _state_line)


@connectors.command("pause")
@click.argument("connector_id")
@json_option
@pass_app
def connectors_pause(app: App, connector_id: str) -> None:
    """Disable a connector's schedules; nothing runs until it is started again."""
    app.show(app.client.post(api_path("connectors", connector_id, "pause")), _state_line)


@connectors.command("delete")
@click.argument("connector_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def connectors_delete(app: App, connector_id: str, yes: bool) -> None:
    """Delete a connector, its schedules and stored credentials."""
    if not yes:
        click.confirm(f"Delete connector {connector_id}?", abort=True)
    app.client.delete(api_path("connectors", connector_id))
    app.show({"connector_id": connector_id, "deleted": True}, lambda _: f"Deleted connector {connector_id}.")


@connectors.command("run")
@click.argument("connector_id")
@click.option("--kind", type=click.Choice(RUN_KINDS), help="Which run (default: the connector's first).")
@json_option
@pass_app
def connectors_run(app: App, connector_id: str, kind: str | None) -> None:
    """Run a connector now (asynchronously: follow it with relay runs)."""
    body = {"kind": kind} if kind else {}
    started = app.client.post(api_path("connectors", connector_id, "runs"), body)
    app.show(
        started,
        lambda r: (
            f"Requested a {r.get('kind')} run of {r.get('connector_id')} at {r.get('requested_at')}: "
            f"relay runs {r.get('connector_id')}"
        ),
    )


# ----------------------------------------------------------------------------------------------- kinds


def _sides(kind: dict[str, Any]) -> str:
    sides = kind.get("sides") or {}
    return ", ".join(name for name in ("source", "target") if sides.get(name) is not None) or "-"


def render_kinds(data: dict[str, Any]) -> str:
    rows = [
        [k.get("system"), k.get("title"), k.get("category"), _sides(k), k.get("documents")]
        for k in data.get("kinds") or []
    ]
    return table(["SYSTEM", "TITLE", "CATEGORY", "SIDES", "DOCUMENTS"], rows) if rows else "No kinds."


def _schema_type(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"]) if not isinstance(prop["type"], list) else "|".join(map(str, prop["type"]))
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in prop:
            return "|".join(_schema_type(p) for p in prop[key])
    if "enum" in prop:
        return "|".join(map(str, prop["enum"]))
    return "-"


def _render_side(name: str, side: dict[str, Any]) -> str:
    lines = [f"{name.capitalize()} side", fields([("Triggers", side.get("triggers"))])]
    capabilities = side.get("capabilities") or []
    if capabilities:
        lines += [
            "",
            table(
                ["CAPABILITY", "DESCRIPTION"], [[c.get("name"), c.get("description")] for c in capabilities]
            ),
        ]
    schema = side.get("schema") or {}
    required = set(schema.get("required") or [])
    props = schema.get("properties") or {}
    if props:
        rows = [
            [
                prop_name,
                _schema_type(prop),
                prop_name in required,
                json.dumps(prop["default"]) if "default" in prop else None,
                prop.get("description") or prop.get("title"),
            ]
            for prop_name, prop in props.items()
        ]
        lines += ["", table(["FIELD", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"], rows)]
    secrets = side.get("secrets") or []
    if secrets:
        rows = [
            [
                s.get("field"),
                s.get("title"),
                " | ".join(", ".join(keys) for keys in [s.get("keys") or [], *(s.get("alternatives") or [])]),
            ]
            for s in secrets
        ]
        lines += ["", table(["SECRET", "TITLE", "KEYS (one set of)"], rows)]
    return "\n".join(lines)


def render_kind(kind: dict[str, Any]) -> str:
    notes = kind.get("notes") or []
    parts = [
        fields(
            [
                ("System", kind.get("system")),
                ("Title", kind.get("title")),
                ("Category", kind.get("category")),
                ("Connection", kind.get("connection")),
                ("Documents", kind.get("documents")),
                ("Docs", kind.get("docs")),
                ("Notes", "\n".join(f"- {n}" for n in notes) if notes else None),
            ]
        )
    ]
    sides = kind.get("sides") or {}
    parts += [_render_side(name, sides[name]) for name in ("source", "target") if sides.get(name) is not None]
    pairs = kind.get("pairs") or []
    if pairs:
        rows = [[p.get("source"), p.get("target"), p.get("flow"), p.get("runs")] for p in pairs]
        parts.append(table(["SOURCE", "TARGET", "FLOW", "RUNS"], rows))
    return "\n\n".join(parts)


@cli.command()
@click.argument("system", required=False)
@json_option
@pass_app
def kinds(app: App, system: str | None) -> None:
    """The systems a connector can join; with SYSTEM: its configuration fields, secrets and pairs."""
    if system:
        app.show(app.client.get(api_path("kinds", system)), render_kind)
    else:
        app.show(app.client.get("/kinds"), render_kinds)


# ------------------------------------------------------------------------------------------ runs, logs


def _run_row(r: dict[str, Any]) -> list[Any]:
    return [
        r.get("run_id"),
        r.get("kind"),
        r.get("status"),
        r.get("started_at"),
        r.get("finished_at"),
        r.get("counts"),
    ]


RUN_HEADERS = ["RUN", "KIND", "STATUS", "STARTED", "FINISHED", "COUNTS"]


@cli.command()
@click.argument("connector_id", metavar="CONNECTOR")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 100), help="Runs per page (1-100)."
)
@click.option("--all", "all_pages", is_flag=True, help="Follow the pages to the oldest run.")
@json_option
@pass_app
def runs(app: App, connector_id: str, limit: int, all_pages: bool) -> None:
    """A connector's runs, newest first."""
    client, path = app.client, api_path("connectors", connector_id, "runs")
    params: dict[str, Any] = {"limit": limit}
    collected: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        page = client.get(path, params)
        collected += page.get("runs") or []
        cursor = page.get("next")
        if not all_pages or not cursor:
            break
        if cursor in seen:
            raise click.ClickException("the API returned the same page cursor twice")
        seen.add(cursor)
        params["cursor"] = cursor

    def render(data: dict[str, Any]) -> str:
        found = data["runs"]
        if not found:
            return f"No runs of {connector_id} yet."
        with_reason = any(r.get("reason") for r in found)  # why a run failed or was skipped, when one did
        headers = RUN_HEADERS + (["REASON"] if with_reason else [])
        text = table(headers, [_run_row(r) + ([r.get("reason")] if with_reason else []) for r in found])
        if data["next"]:
            text += f"\n\nMore runs: relay runs {connector_id} --all"
        return text

    app.show({"runs": collected, "next": cursor}, render)


def _event_rows(events: list[dict[str, Any]], with_run: bool = False) -> list[list[Any]]:
    rows = []
    for e in events:
        row = [e.get("at")]
        if with_run:
            row += [e.get("run_id"), e.get("kind")]
        row += [
            e.get("level"),
            e.get("number"),
            e.get("message"),
            e.get("source_id"),
            e.get("details") or None,
        ]
        rows.append(row)
    return rows


@cli.command()
@click.argument("run_id")
@json_option
@pass_app
def logs(app: App, run_id: str) -> None:
    """What one run did: its summary and events."""

    def render(data: dict[str, Any]) -> str:
        run = data.get("run") or {}
        head = fields(
            [
                ("Run", run.get("run_id")),
                ("Connector", run.get("connector_id")),
                ("Kind", run.get("kind")),
                ("Status", run.get("status")),
                ("Started", run.get("started_at")),
                ("Finished", run.get("finished_at")),
                ("Counts", run.get("counts")),
                ("Reason", run.get("reason")),
                ("Export file", run.get("export_file")),
            ]
        )
        events = data.get("events") or []
        if not events:
            return head + "\n\nNo events."
        return (
            head
            + "\n\n"
            + table(["AT", "LEVEL", "NUMBER", "MESSAGE", "SOURCE", "DETAILS"], _event_rows(events))
        )

    app.show(app.client.get(api_path("runs", run_id)), render)


# ----------------------------------------------------------------------------------------- documents


DOCUMENT_HEADERS = ["CONNECTOR", "SOURCE ID", "NUMBER", "STATE", "VERSION", "UPDATED", "REASON"]


def _document_row(d: dict[str, Any]) -> list[Any]:
    return [
        d.get("connector_id"),
        d.get("source_id"),
        d.get("number"),
        d.get("state"),
        d.get("version"),
        d.get("updated_at"),
        d.get("reason"),
    ]


@cli.command()
@click.argument("number")
@json_option
@pass_app
def where(app: App, number: str) -> None:
    """Where document NUMBER (invoice 1042) is, in every connector."""

    def render(data: dict[str, Any]) -> str:
        documents = data.get("documents") or []
        if not documents:
            return f"No document numbered {number} in any connector."
        return table(DOCUMENT_HEADERS, [_document_row(d) for d in documents])

    app.show(app.client.get("/documents", {"number": number}), render)


@cli.command()
@click.argument("connector_id", metavar="CONNECTOR")
@click.argument("source_id")
@json_option
@pass_app
def timeline(app: App, connector_id: str, source_id: str) -> None:
    """One document's state and every event about it, across runs."""

    def render(data: dict[str, Any]) -> str:
        text = table(DOCUMENT_HEADERS, [_document_row(data.get("document") or {})])
        events = data.get("events") or []
        if not events:
            return text + "\n\nNo events."
        headers = ["AT", "RUN", "KIND", "LEVEL", "NUMBER", "MESSAGE", "SOURCE", "DETAILS"]
        return text + "\n\n" + table(headers, _event_rows(events, with_run=True))

    app.show(app.client.get(api_path("connectors", connector_id, "documents", source_id)), render)


# ------------------------------------------------------------------------------------ dead letters


@cli.group()
def dlq() -> None:
    """A connector's dead letters: work that failed every retry."""


@dlq.command("list")
@click.argument("connector_id", metavar="CONNECTOR")
@json_option
@pass_app
def dlq_list(app: App, connector_id: str) -> None:
    """The dead letters of a connector."""

    def render(data: dict[str, Any]) -> str:
        items = data.get("items") or []
        if not items:
            return f"No dead letters for {connector_id}."
        rows = [
            [
                i.get("id"),
                i.get("at"),
                i.get("attempts"),
                i.get("reason"),
                i.get("work_key"),
                i.get("summary"),
            ]
            for i in items
        ]
        return table(["ID", "AT", "ATTEMPTS", "REASON", "WORK KEY", "SUMMARY"], rows)

    app.show(app.client.get(api_path("connectors", connector_id, "dead-letters")), render)


@dlq.command("replay")
@click.argument("connector_id", metavar="CONNECTOR")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter of the connector.")
@json_option
@pass_app
def dlq_replay(app: App, connector_id: str, ids: tuple[str, ...], replay_all: bool) -> None:
    """Put dead letters back on the work queue: the IDs given, or --all."""
    if bool(ids) == replay_all:
        raise click.UsageError("name the dead letters to replay, or pass --all (not both)")
    body = {} if replay_all else {"ids": list(ids)}
    result = app.client.post(api_path("connectors", connector_id, "dead-letters", "replay"), body)
    app.show(result, lambda r: f"Replayed {r.get('replayed', 0)} dead letter(s) of {connector_id}.")


# ------------------------------------------------------------------------------------------- files


@cli.command()
@click.argument("connector_id", metavar="CONNECTOR")
@click.option("--urls", is_flag=True, help="Also print each file's download link (expires).")
@json_option
@pass_app
def files(app: App, connector_id: str, urls: bool) -> None:
    """The export files of a file-target connector."""

    def render(data: dict[str, Any]) -> str:
        items = data.get("files") or []
        if not items:
            return f"No files for {connector_id}."
        rows = []
        for f in items:
            documents = f.get("documents")
            row = [
                f.get("name"),
                f.get("run_id"),
                f.get("created_at"),
                f.get("size"),
                len(documents) if isinstance(documents, list) else documents,
                f.get("key"),
            ]
            if urls:
                row.append(f.get("download_url"))
            rows.append(row)
        headers = ["NAME", "RUN", "CREATED", "SIZE", "DOCUMENTS", "KEY"] + (["DOWNLOAD URL"] if urls else [])
        return table(headers, rows)

    app.show(app.client.get(api_path("connectors", connector_id, "files")), render)


if __name__ == "__main__":  # pragma: no cover
    cli()
