"""The `harness` command: a thin front end over the core (logic lives a layer down)."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from harness import __version__, clock  # noqa: F401 (the process start is read at its import)
from harness._imports import HTTPX_COMMAND_LINE, own_process, without_modules
from harness.errors import HarnessError

__all__ = ["build_parser", "main"]

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]


def _schema_models() -> dict[str, Callable[[], dict[str, object]]]:
    from harness import models

    schemas: dict[str, Callable[[], dict[str, object]]] = {}
    for name in models.__all__:
        obj = getattr(models, name)
        if isinstance(obj, type) and hasattr(obj, "model_json_schema"):
            schemas[name] = obj.model_json_schema
    try:
        from harness.models.scenario import scenario_json_schema
    except ImportError:  # the scenario format is optional while it is being built
        pass
    else:
        schemas["scenario"] = scenario_json_schema
    return schemas


def _cmd_schema(args: argparse.Namespace) -> int:
    schemas = _schema_models()
    factory = schemas.get(args.model)
    if factory is None:
        import difflib

        close = difflib.get_close_matches(args.model, list(schemas), n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise HarnessError(
            f"unknown model {args.model!r}",
            hint=f"{hint}choose one of: {', '.join(sorted(schemas))}",
        )
    print(json.dumps(factory(), indent=2))
    return 0


def _cmd_model_serve(args: argparse.Namespace) -> int:
    import socket

    import uvicorn

    from harness.testing import ScriptedModel

    model = ScriptedModel(args.script)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as exc:
        raise HarnessError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
            hint="choose another --port (0 picks a free one)",
        ) from None
    # Listen before printing the URL: a client that reads it and connects at once is queued in the
    # backlog until uvicorn starts accepting, instead of being refused.
    sock.listen(128)
    port = sock.getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    config = uvicorn.Config(model.app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _add_model_commands(sub: _SubParsers) -> None:
    model = sub.add_parser("model", help="the scripted OpenAI-compatible model (for recording)")
    model_sub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    serve = model_sub.add_parser("serve", help="serve a scripted model on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--script", required=True, help="a scripted-model script (YAML or JSON)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    serve.set_defaults(handler=_cmd_model_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from harness.server import serve

    serve(
        host=args.host,
        port=args.port,
        token=args.token,
        workflows_dir=args.workflows,
        store=args.store,
    )
    return 0


def _add_serve_command(sub: _SubParsers) -> None:
    serve = sub.add_parser("serve", help="serve the built-in engine behind the platform's REST API")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--workflows", metavar="DIR", help="preload hydrated configs (JSON/YAML)")
    serve.add_argument("--token", help="bearer token API calls must send (or HARNESS_SERVE_TOKEN)")
    serve.add_argument("--store", metavar="PATH", help="SQLite file for runs (default: in memory)")
    serve.set_defaults(handler=_cmd_serve)


def _cmd_pull(args: argparse.Namespace) -> int:
    from harness.backends.pull import STDOUT, pull_workflow

    pulled = pull_workflow(
        args.workflow_id, version=args.version, output=args.output, force=args.force
    )
    if pulled.path is None:
        sys.stdout.write(pulled.text)
    else:
        which = f" version {pulled.version}" if pulled.version is not None else ""
        print(
            f"wrote {pulled.path}: workflow {pulled.name or pulled.workflow_id!r}{which}, "
            f"{pulled.nodes} node(s), {pulled.edges} edge(s)",
            file=sys.stderr if args.output == STDOUT else sys.stdout,
        )
    if pulled.engine_problems:
        problems = "\n".join(f"  - {p}" for p in pulled.engine_problems)
        print(
            f"note: the built-in engine cannot run it as it is:\n{problems}\n"
            "  run its scenarios with --backend api, or change the workflow",
            file=sys.stderr,
        )
    return 0


def _add_pull_command(sub: _SubParsers) -> None:
    pull = sub.add_parser(
        "pull",
        help="fetch a workflow's fully hydrated config from the platform into a workflow file",
        description="Fetch GET /v1/workflows/{id}?fully_hydrate=true with HARNESS_API_URL, "
        "HARNESS_API_KEY and the team id, and write it as a workflow file (pretty JSON).",
    )
    pull.add_argument("workflow_id", metavar="WORKFLOW_ID", help="24 hex characters")
    pull.add_argument("--version", type=int, help="the version to fetch (default: the active one)")
    pull.add_argument(
        "-o", "--output", metavar="FILE", help="file to write (default WORKFLOW_ID.json; - prints)"
    )
    pull.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    pull.set_defaults(handler=_cmd_pull)


def _add_schema_command(sub: _SubParsers) -> None:
    schema = sub.add_parser("schema", help="print the JSON Schema of a model (or `scenario`)")
    schema.add_argument("model", help="e.g. WorkflowRun, WorkflowRunInput, scenario")
    schema.set_defaults(handler=_cmd_schema)


def _add_run_commands(sub: _SubParsers) -> None:
    from harness.cli_run import add_run_commands

    add_run_commands(sub)


def _add_report_commands(sub: _SubParsers) -> None:
    from harness.cli_report import register

    register(sub)


def _add_cassettes_command(sub: _SubParsers) -> None:
    from harness.cli_cassettes import register

    register(sub)


def _add_dashboard_command(sub: _SubParsers) -> None:
    from harness.dashboard.command import register

    register(sub)


_COMMANDS: tuple[tuple[tuple[str, ...], Callable[[_SubParsers], None]], ...] = (
    (("schema",), _add_schema_command),
    (("model",), _add_model_commands),
    (("serve",), _add_serve_command),
    (("pull",), _add_pull_command),
    (("run", "validate"), _add_run_commands),
    (("report", "baseline"), _add_report_commands),
    (("cassettes",), _add_cassettes_command),
    (("dashboard",), _add_dashboard_command),
)
"""The subcommands, in help order, with the function that adds them to the parser."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, or only with those added with `command`.

    `main` parses a command line that starts with a command with the second form: building every
    subcommand costs ~10 ms of start-up, and usage, help and errors of the command are the same.
    """
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Test and evaluate runs of conversational LLM workflows.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for names, add in _COMMANDS:
        if command is None or command in names:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Called without `argv` (the console script, `python -m harness.cli`), the process ends with
    the command, so the collector is frozen once it returns (`_process_ends`).
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            _process_ends()


def _process_ends() -> None:
    """Everything the command built now lives until exit: frozen, it is skipped by the
    interpreter's last garbage collection, which would walk all of it only to free memory the
    operating system takes back (~80-100 ms after a run of a few scenarios, more after a large
    one). Nothing waits on the collector: report files, the history and the sandbox are closed
    by their owners or by `atexit`, which still run."""
    gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    known = argv[0] if argv and any(argv[0] in names for names, _ in _COMMANDS) else None
    parser = build_parser(known)
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        with own_process(), without_modules(HTTPX_COMMAND_LINE):
            return handler(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`harness schema X | head`): not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
