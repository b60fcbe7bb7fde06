"""gitmem serve: a real server (uvicorn, in its own process) on a real store,
driven by Letta's own client, unmodified, and checked with the real git."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import letta_client
import pytest
from click.testing import CliRunner
from letta_client import Letta

import gitmem
from gitmem.cli import main
from tests.conftest import PERSON, git

EDITED = (
    "The core memory block with label `{}` has been edited. Review the changes and make sure "
    "they are as expected (correct indentation, no duplicate lines, etc). Edit the memory block "
    "again if necessary."
)


# Each test talks to a real server process (seconds to start, on a busy machine).
pytestmark = pytest.mark.slow
OPEN: list[Letta] = []  # the clients a test made, closed after it


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


@dataclass
class Served:
    """A running ``gitmem serve`` and the store behind it."""

    url: str
    store: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def letta(self, token: str | None = None) -> Letta:
        client = Letta(base_url=self.url, api_key=token)
        OPEN.append(client)
        return client

    def commits(self) -> int:
        return int(git(self.store, "rev-list", "--count", "HEAD"))

    def last(self) -> str:
        """The newest commit: ``author <email>|subject``."""
        return git(self.store, "log", "-1", "--format=%an <%ae>|%s").strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


SERVE = [sys.executable, "-m", "gitmem", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    env["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = PERSON
    env.pop("LETTA_API_KEY", None)
    return env


def start(store: Path, home: Path, *args: str) -> Served:
    """``gitmem serve`` on a free port, once it answers."""
    home.mkdir(exist_ok=True)
    port = free_port()
    log = store.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*SERVE, "-C", str(store), "--port", str(port), "--log-level", "warning", *args],
            env=server_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gitmem serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health/", timeout=1).status_code == 200:
                return Served(url, store, proc, log)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"gitmem serve did not answer:\n{log.read_text()}")


@dataclass
class Setup:
    served: Served
    admin: str
    worker: str  # the token of agent `worker`
    supervisor: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One server for the module: a store with agents supervisor and worker
    (both with `organization`; worker also with read-only `rules`), and tokens."""
    top = tmp_path_factory.mktemp("serve")
    env = server_env(top / "home")
    (top / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SETUP, str(top / "mem")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    admin, worker, supervisor = done.stdout.split()
    served = start(top / "mem", top / "home")
    yield Setup(served, admin, worker, supervisor)
    served.stop()
    log = served.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log


SETUP = """
import sys, gitmem
with gitmem.Client.init(sys.argv[1]) as c:
    c.blocks.create(label="organization", value="Acme builds robots.")
    c.blocks.create(label="rules", value="Be kind.", read_only=True)
    c.agents.create(name="supervisor", block_ids=["organization"])
    c.agents.create(name="worker", memory_blocks=[{"label": "persona", "value": "I work."}],
                    block_ids=["organization", "rules"])
    for agent in (None, "worker", "supervisor"):
        print(c.tokens.create(agent=agent)[1])
"""


def detail(error: pytest.ExceptionInfo[letta_client.APIStatusError]) -> object:
    """What the server said (Letta's ``{"detail": ...}``)."""
    body = error.value.body
    assert isinstance(body, dict)
    said: object = body["detail"]
    return said


def said(error: pytest.ExceptionInfo[letta_client.APIStatusError]) -> str:
    """The server's message."""
    text = detail(error)
    assert isinstance(text, str)
    return text


def test_the_shared_memory_seed_program(setup: Setup) -> None:
    """Letta's "shared memory blocks" guide as written; one agent's insert is seen by the other."""
    served = setup.served
    client = served.letta(setup.admin)
    shared_block = client.blocks.create(
        label="team",
        description="Shared information between all agents within the organization.",
        value="Nothing here yet, we should update this over time.",
    )
    supervisor_agent = client.agents.create(
        model="anthropic/claude-3-5-sonnet-20241022",
        embedding="openai/text-embedding-3-small",
        memory_blocks=[{"label": "persona", "value": "I am a supervisor"}],
        block_ids=[shared_block.id],
    )
    worker_agent = client.agents.create(
        model="openai/gpt-4.1-mini",
        embedding="openai/text-embedding-3-small",
        memory_blocks=[{"label": "persona", "value": "I am a worker"}],
        block_ids=[shared_block.id],
    )
    assert shared_block.id == "team"
    assert [b.label for b in supervisor_agent.memory.blocks] == ["persona", "team"]
    assert worker_agent.blocks[0].id == f"{worker_agent.id}/persona"
    assert worker_agent.llm_config.model == "gpt-4.1-mini"
    holders = {a.id for a in client.blocks.agents.list(block_id=shared_block.id)}
    assert holders == {supervisor_agent.id, worker_agent.id}

    before = served.commits()
    result = client.agents.tools.run(
        "memory_insert",
        agent_id=supervisor_agent.id,
        args={"label": "team", "new_string": "Ship the robot arm by Friday."},
    )
    assert (result.status, result.func_return, result.stderr) == (
        "success",
        EDITED.format("team"),
        [],
    )
    assert served.commits() == before + 1
    who = supervisor_agent.id
    assert served.last() == f"{who} <{who}@agents.gitmem>|memory_insert: team"

    seen = client.agents.blocks.retrieve("team", agent_id=worker_agent.id)
    assert seen.value == (
        "Nothing here yet, we should update this over time.\nShip the robot arm by Friday."
    )
    prompt = client.agents.recompile(worker_agent.id)
    assert "<team>\n<description>\nShared information between all agents" in prompt
    assert "<value>\nNothing here yet, we should update this over time.\n" in prompt
    assert "Ship the robot arm by Friday.\n</value>\n</team>" in prompt
    assert prompt == gitmem.Client(served.store).agents.memory(worker_agent.id).compile()


def test_each_memory_tool_is_one_commit_by_the_agent(setup: Setup) -> None:
    served, worker = setup.served, setup.served.letta(setup.worker)
    calls: list[tuple[str, dict[str, object]]] = [
        ("memory_insert", {"label": "persona", "new_string": "I file reports.", "insert_line": 0}),
        ("memory_replace", {"label": "persona", "old_string": "reports", "new_string": "bugs"}),
        (
            "core_memory_append",
            {"label": "persona", "content": "I test.", "request_heartbeat": True},
        ),
        ("core_memory_replace", {"label": "persona", "old_content": "I ", "new_content": "We "}),
        ("memory_rethink", {"label": "persona", "new_memory": "We work."}),
    ]
    values = []
    for tool, args in calls:
        before = served.commits()
        result = worker.agents.tools.run(tool, agent_id="worker", args=args)
        assert result.status == "success", result.stderr
        assert served.commits() == before + 1
        assert served.last() == f"worker <worker@agents.gitmem>|{tool}: worker/persona"
        values.append(worker.agents.blocks.retrieve("persona", agent_id="worker").value)
    assert values == [
        "I file reports.\nI work.",
        "I file bugs.\nI work.",
        "I file bugs.\nI work.\nI test.",
        "We file bugs.\nWe work.\nWe test.",
        "We work.",
    ]
    assert git(served.store, "status", "--porcelain") == ""
    git(served.store, "fsck", "--strict", "--no-dangling")


def test_a_failed_tool_answers_like_letta_and_writes_nothing(setup: Setup) -> None:
    served, worker = setup.served, setup.served.letta(setup.worker)
    before = served.commits()
    cases: list[tuple[str, dict[str, object], str, str]] = [
        ("memory_insert", {"label": "rules", "new_string": "x"}, "ValueError", "read-only"),
        (
            "memory_replace",
            {"label": "organization", "old_string": "zzz", "new_string": "y"},
            "ValueError",
            "No replacement was performed, old_string `zzz` did not appear",
        ),
        (
            "memory_insert",
            {"label": "nope", "new_string": "x"},
            "ValueError",
            "Memory block with label `nope` is not attached to agent `worker`.",
        ),
        (
            "memory_insert",
            {"label": "persona"},
            "TypeError",
            "memory_insert() missing 1 required positional argument: 'new_string'",
        ),
        (
            "memory_rethink",
            {"label": "persona", "new_memory": "x", "colour": 1},
            "TypeError",
            "memory_rethink() got an unexpected keyword argument 'colour'",
        ),
        (
            "memory_insert",
            {"label": "persona", "new_string": "x", "insert_line": "2"},
            "ValueError",
            "insert_line must be an integer, not '2'",
        ),
    ]
    for tool, args, kind, message in cases:
        result = worker.agents.tools.run(tool, agent_id="worker", args=args)
        assert (result.status, result.func_return) == ("error", None)
        [error] = result.stderr or []
        assert error.startswith(f"Error executing function {tool}: {kind}: ")
        assert message in error
    with pytest.raises(letta_client.NotFoundError) as e:
        worker.agents.tools.run("send_message", agent_id="worker", args={"message": "hi"})
    assert said(e).startswith("Tool 'send_message' not found or not attached to agent 'worker'")
    assert served.commits() == before


def test_tokens_scope_every_request(setup: Setup) -> None:
    served = setup.served
    worker = served.letta(setup.worker)
    with pytest.raises(letta_client.AuthenticationError) as e:
        served.letta().blocks.list()
    assert said(e).startswith("Unauthorized: send 'Authorization: Bearer <token>'")
    with pytest.raises(letta_client.AuthenticationError) as e:
        served.letta("gm-made-up").agents.retrieve("worker")
    assert detail(e) == "Unauthorized: unknown or revoked token"

    # The worker's token reads what is attached to the worker, and nothing else.
    assert worker.agents.retrieve("worker").name == "worker"
    assert [a.id for a in worker.agents.list()] == ["worker"]
    assert {b.id for b in worker.blocks.list()} == {"organization", "rules", "worker/persona"}
    assert worker.blocks.retrieve("worker/persona").label == "persona"
    not_as = "acts as agent 'worker', not as 'supervisor'"
    insert: dict[str, object] = {"label": "organization", "new_string": "x"}
    forbidden: list[tuple[Callable[[], object], str]] = [
        (lambda: worker.agents.retrieve("supervisor"), not_as),
        (
            lambda: worker.agents.tools.run("memory_insert", agent_id="supervisor", args=insert),
            not_as,
        ),
        (lambda: worker.blocks.retrieve("team"), "block 'team' is not attached to agent 'worker'"),
        (lambda: worker.blocks.create(label="mine", value="x"), "cannot create blocks"),
        (lambda: worker.blocks.update("organization", value="x"), "cannot change blocks"),
        (lambda: worker.blocks.delete("organization"), "cannot delete blocks"),
        (lambda: worker.blocks.agents.list("organization"), "cannot list the agents"),
        (lambda: worker.agents.create(name="other"), "cannot create agents"),
        (lambda: worker.agents.delete("worker"), "cannot delete agents"),
        (lambda: worker.agents.blocks.attach("team", agent_id="worker"), "cannot attach blocks"),
        (lambda: worker.agents.blocks.detach("rules", agent_id="worker"), "cannot detach blocks"),
        (
            lambda: worker.agents.blocks.update("organization", agent_id="worker", limit=5),
            "changes only the value of its blocks, not limit",
        ),
        (
            lambda: worker.agents.blocks.update("rules", agent_id="worker", value="Be rude."),
            "This block is read-only and cannot be edited.",
        ),
    ]
    before = served.commits()
    for call, reason in forbidden:
        with pytest.raises(letta_client.PermissionDeniedError) as refused:
            call()
        assert reason in said(refused)
    assert served.commits() == before

    # Its value, by label, it changes as itself.
    block = worker.agents.blocks.update("persona", agent_id="worker", value="I rest.")
    assert (block.value, served.commits()) == ("I rest.", before + 1)
    assert served.last() == "worker <worker@agents.gitmem>|memory_rethink: worker/persona"

    # A revoked token is refused at its next request.
    store = gitmem.Client(served.store)
    token, secret = store.tokens.create(agent="worker")
    assert served.letta(secret).agents.retrieve("worker").id == "worker"
    store.tokens.revoke(token.id)
    with pytest.raises(letta_client.AuthenticationError):
        served.letta(secret).agents.retrieve("worker")


def test_admin_routes_and_letta_status_codes(setup: Setup) -> None:
    served, admin = setup.served, setup.served.letta(setup.admin)
    made = admin.blocks.create(
        label="Sales Notes", value="Q3: 12 robots.", limit=100, extra_body={"id": "sales"}
    )
    assert (made.id, made.label, made.limit, made.read_only) == ("sales", "Sales Notes", 100, False)
    assert served.last() == f"{PERSON[0]} <{PERSON[1]}>|create_block: sales"
    version = made.to_dict()["version"]
    changed = admin.blocks.update(
        "sales", description="Sales figures", extra_body={"if_version": version}
    )
    assert (changed.description, changed.value) == ("Sales figures", "Q3: 12 robots.")
    assert admin.agents.blocks.attach("sales", agent_id="supervisor").blocks[-1].id == "sales"
    by_label = admin.agents.blocks.update("Sales Notes", agent_id="supervisor", value="Q3: 13.")
    assert by_label.value == "Q3: 13." and served.last().endswith("|update_block: sales")
    assert [b.id for b in admin.agents.blocks.list(agent_id="supervisor")] == [
        "organization",
        "sales",
    ]
    assert [b.id for b in admin.blocks.list(label="Sales Notes")] == ["sales"]
    assert [a.id for a in admin.agents.list(name="worker")] == ["worker"]

    before = served.commits()

    def invalid(kind: str, loc: list[object], msg: str) -> list[dict[str, object]]:
        return [{"type": kind, "loc": loc, "msg": msg}]

    sales = {"id": "sales"}
    stale = {"if_version": version}
    cases: list[tuple[type[letta_client.APIStatusError], Callable[[], object], object]] = [
        (letta_client.NotFoundError, lambda: admin.blocks.retrieve("nope"), "nope"),
        (letta_client.NotFoundError, lambda: admin.agents.retrieve("nobody"), "nobody"),
        (
            letta_client.NotFoundError,
            lambda: admin.agents.blocks.retrieve("x", agent_id="worker"),
            "Memory block with label `x` is not attached to agent `worker`.",
        ),
        (
            letta_client.ConflictError,
            lambda: admin.blocks.create(label="s", value="", extra_body=sales),
            "block 'sales' already exists",
        ),
        (
            letta_client.ConflictError,
            lambda: admin.agents.create(name="worker"),
            "agent 'worker' already exists",
        ),
        (
            letta_client.ConflictError,
            lambda: admin.blocks.update("sales", value="x", extra_body=stale),
            f"you read version {version}",
        ),
        (
            letta_client.UnprocessableEntityError,
            lambda: admin.blocks.create(label=5, value="x"),  # type: ignore[arg-type]
            invalid("string_type", ["body", "label"], "Input should be a valid string"),
        ),
        (
            letta_client.UnprocessableEntityError,
            lambda: admin.blocks.create(label="x", value="x", extra_body={"colour": "red"}),
            invalid("extra_forbidden", ["body", "colour"], "Extra inputs are not permitted"),
        ),
        (
            letta_client.UnprocessableEntityError,
            lambda: admin.agents.create(memory_blocks=[{"value": "x"}]),  # type: ignore[typeddict-item]
            invalid("missing", ["body", "memory_blocks", 0, "label"], "Field required"),
        ),
        (
            letta_client.UnprocessableEntityError,
            lambda: admin.blocks.list(limit=-1),
            invalid("greater_than_equal", ["query", "limit"], "Input should be >= 0"),
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.blocks.create(label="x", value="x", extra_body={"id": "A B"}),
            "invalid block id 'A B'",
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.blocks.create(label="x", value="xx", limit=1),
            "value is too long: 2 characters requested, 1 allowed",
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.blocks.create(label="x", value="", tags=["a"]),
            "gitmem does not support Letta's 'tags' (yet)",
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.blocks.list(value_search="robots"),
            "gitmem does not support Letta's list filter 'value_search' (yet)",
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.agents.create(name="Support Agent"),
            "invalid agent id 'Support Agent'",
        ),
        (
            letta_client.BadRequestError,
            lambda: admin.blocks.delete("organization"),
            "block 'organization' is attached to supervisor, worker",
        ),
    ]
    for kind, call, expected in cases:
        with pytest.raises(kind) as e:
            call()
        assert expected == detail(e) if isinstance(expected, list) else f"{expected}" in said(e)
    assert served.commits() == before

    assert (
        admin.agents.blocks.detach("sales", agent_id="supervisor").memory.blocks[-1].id != "sales"
    )
    admin.blocks.delete("sales")
    assert served.last().endswith("|delete_block: sales")
    with pytest.raises(letta_client.NotFoundError):
        admin.blocks.retrieve("sales")


def test_bad_bodies_are_refused_before_anything_is_written(setup: Setup) -> None:
    served = setup.served
    headers = {"Authorization": f"Bearer {setup.admin}", "Content-Type": "application/json"}
    url = f"{served.url}/v1/blocks/"
    before = served.commits()

    def post(content: bytes) -> httpx.Response:
        return httpx.post(url, content=content, headers=headers, timeout=60)

    for content, status, message in [
        (b'{"label": "x", "value": ', 400, "the request body is not valid JSON"),
        (b'{"label": "x", "value": NaN}', 400, "NaN is not JSON"),
        (b'{"label": "x", "value": "\xff"}', 400, "the request body is not UTF-8 text"),
        (b"[1, 2]", 422, "Input should be a valid dictionary"),
        (b"", 422, "Field required"),
        (b"[" * 100_000, 400, "the request body is not valid JSON"),
    ]:
        answer = post(content)
        assert answer.status_code == status, answer.text
        assert message in str(answer.json()["detail"])
        assert answer.headers["x-should-retry"] == "false"
    body = b'{"label": "x", "value": "' + b"x" * 7_100_000 + b'"}'
    huge = post(body)
    assert huge.status_code == 413
    assert (
        huge.json()["detail"] == f"the request body is {len(body)} bytes; at most 7048576 are read"
    )
    assert served.commits() == before


def test_ids_with_a_slash_and_paging(setup: Setup) -> None:
    admin = setup.served.letta(setup.admin)
    assert admin.blocks.retrieve("worker/persona").label == "persona"
    assert [a.id for a in admin.blocks.agents.list("worker/persona")] == ["worker"]
    first = admin.blocks.list(limit=1)
    assert len(first.items) == 1
    every = [b.id for b in admin.blocks.list(limit=1)]  # the client asks page after page
    assert every == [b.id for b in admin.blocks.list()] and len(every) >= 3
    assert every == sorted(every)
    assert [b.id for b in admin.blocks.list(order="desc")] == every[::-1]
    assert [b.id for b in admin.blocks.list(after=every[0], limit=2).items] == every[1:3]
    assert [b.id for b in admin.blocks.list(before=every[-1], limit=2).items] == every[-3:-1]


def test_routes_not_built_say_so(setup: Setup) -> None:
    served, admin = setup.served, setup.served.letta(setup.admin)
    with pytest.raises(letta_client.InternalServerError) as e:
        admin.agents.update("worker", description="x")
    assert e.value.status_code == 501
    assert said(e).startswith("agents.update is not built yet")
    with pytest.raises(letta_client.InternalServerError) as e:
        admin.agents.messages.create("worker", messages=[{"role": "user", "content": "hi"}])
    assert said(e).startswith("gitmem serve does not implement POST /v1/agents/worker/messages")
    auth = {"Authorization": f"Bearer {setup.admin}"}
    for path, text in [("/mcp", "MCP over HTTP is not built yet"), ("/v1/events", "live events")]:
        answer = httpx.get(served.url + path, headers=auth)
        assert answer.status_code == 501
        assert answer.json()["detail"].startswith(text)


def test_loopback_without_tokens_is_open_until_a_token_exists(
    tmp_path: Path, client: gitmem.Client
) -> None:
    client.blocks.create(label="notes", value="hello")
    served = start(client.path, tmp_path / "serve-home")
    try:
        assert served.letta().blocks.retrieve("notes").value == "hello"
        client.tokens.create(agent=None)
        with pytest.raises(letta_client.AuthenticationError):
            served.letta().blocks.retrieve("notes")
    finally:
        served.stop()


def test_serve_refuses_a_network_without_tokens(client: gitmem.Client) -> None:
    done = CliRunner().invoke(main, ["serve", "-C", str(client.path), "--host", "0.0.0.0"])
    assert done.exit_code == 1
    assert "refusing to listen on 0.0.0.0 with no tokens" in done.output


def test_the_readme_example_runs(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Agents on many machines", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```py\n(.*?)```", section, re.S)
    code = code.replace("http://localhost:8283", setup.served.url)
    before = setup.served.commits()
    names: dict[str, object] = {"TOKEN": setup.worker}
    exec(compile(code, "README.md", "exec"), names)
    made = names["client"]
    assert isinstance(made, Letta)
    made.close()
    shown = capsys.readouterr().out
    assert "\nRefunds need a receipt.\n" in shown
    assert "<organization>" in shown and "</memory_blocks>" in shown
    assert setup.served.commits() == before + 1
    assert setup.served.last() == "worker <worker@agents.gitmem>|memory_insert: organization"


def test_a_stalled_body_times_out_without_holding_up_others(
    client: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import uvicorn

    from gitmem.serve import reading
    from gitmem.serve.app import create_app

    monkeypatch.setattr(reading, "BODY_TIMEOUT", 3.0)
    client.blocks.create(label="notes", value="hello")
    port = free_port()
    config = uvicorn.Config(create_app(client, anonymous=True), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with socket.create_connection(("127.0.0.1", port)) as stalled:
            stalled.sendall(
                b"POST /v1/blocks/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n" + b'{"label": "x", "va'
            )
            answer = httpx.get(f"{url}/v1/blocks/notes")  # served while the other waits
            assert answer.json()["value"] == "hello"
            stalled.setblocking(False)
            with pytest.raises(BlockingIOError):  # the stalled one is still waiting
                stalled.recv(4096)
            stalled.settimeout(30)
            reply, chunk = "", b"-"
            while "}" not in reply and chunk:  # headers and JSON may come in two segments
                chunk = stalled.recv(4096)
                reply += chunk.decode()
        assert reply.startswith("HTTP/1.1 408 ")
        assert "the request body did not arrive within 3 s" in reply
        assert git(client.path, "log", "--format=%s") == "create_block: notes\ninit: mem\n"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
