"""schemathesis against the API's own OpenAPI schema: generated requests (valid and not)
to every operation of the real app on SQLite, with a switch armed and released so that
the ids in paths can name real things. No answer may be a 500, and every answer must
conform to the schema: its documented content type and, where a response schema is
documented, its body.

Both of schemathesis' modes run: positive (requests the schema allows) and negative (ones
it does not); half the cases put a real switch id in the path. ``AFTERWORD_SCHEMATHESIS_
EXAMPLES`` sets the examples per operation and mode (default 25).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from afterword.engine import Config, Engine, ServerKeys
from afterword.store import Store
from afterword.web.app import create_app
from tests.fuzz.conftest import record
from tests.owner_request import owner_request
from tests.web.conftest import CONTACTS, PARTS, POLICY, Bundles, bundles, server_keys  # noqa: F401

#: Answers that do not match the schema the app publishes, reported to the web layer's
#: owner: the operation, and what is wrong.
KNOWN_NONCONFORMING: dict[str, str] = {}
EXAMPLES = int(os.environ.get("AFTERWORD_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_app(
    tmp_path_factory: pytest.TempPathFactory,
    server_keys: ServerKeys,  # noqa: F811
    bundles: Bundles,  # noqa: F811
) -> Iterator[Any]:
    """The real app over a SQLite store holding one released switch (``bundles.other``)
    and one armed one (``bundles.main``)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    store = Store(f"sqlite:///{folder / 'afterword.db'}")
    store.migrate()
    engine = Engine(
        store, server_keys, Config(folder / "server", "http://127.0.0.1:9", min_duration=1)
    )
    app = create_app(engine)
    with TestClient(app) as client:
        for bundle in (bundles.main, bundles.other):
            files = [(n, (n, bundle.part(n), "application/octet-stream")) for n in PARTS]
            files.append(("envelopes", ("server.age", bundle.envelope("server"), "x")))
            data = {"policy": json.dumps(POLICY), "contacts": json.dumps(CONTACTS)}
            assert client.post("/switches", files=files, data=data).status_code == 201
        # the owner of `other` releases it now; the server gives its share, alice hers
        switch = bundles.other.switch
        nonce = engine.challenge(switch)["nonce"]
        request = owner_request(bundles.owner, switch, "release", nonce, skip_waiting=True)
        engine.owner_request(switch, request)
        engine.submit_share(switch, bundles.other.mnemonics["alice"])
        assert engine.status(switch)["state"] == "released"
    app.state.switches = [bundles.main.switch, bundles.other.switch]  # armed, released
    yield app
    store.close()


@pytest.fixture(scope="module")
def api_schema(api_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


def test_api_conforms_and_never_fails(api_schema: Any) -> None:
    """Every operation, EXAMPLES generated cases each (schemathesis' pytest loader does not
    work with this pytest, so each operation's strategy is driven by hypothesis here)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    seen: set[str] = set()
    server_errors: list[str] = []
    nonconforming: dict[str, str] = {}
    count = 0
    real = [api_schema.app.state.switches[0], api_schema.app.state.switches[1]]

    def with_real_id(case: schemathesis.Case, which: int) -> schemathesis.Case:
        if case.path_parameters and "switch_id" in case.path_parameters:
            case.path_parameters["switch_id"] = real[which]
        return case

    for operation, mode in itertools.product(operations, list(GenerationMode)):
        cases = operation.as_strategy(generation_mode=mode)
        strategy = st.one_of(
            cases, st.tuples(cases, st.integers(0, 1)).map(lambda t: with_real_id(*t))
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            nonlocal count
            count += 1
            response = case.call()
            seen.add(f"{case.method} {case.path}")
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:300]}"
                )
            case.validate_response(
                response, checks=[content_type_conformance, response_schema_conformance]
            )

        key = f"{operation.method.upper()} {operation.path}"
        try:
            check()
        except Unsatisfiable:
            # an operation that takes nothing has no invalid request to make
            assert mode is GenerationMode.NEGATIVE, key
        except (Exception, BaseExceptionGroup) as exc:  # a check failed (shrunk to one case)
            nonconforming.setdefault(key, str(exc)[:1500])
    assert not server_errors, server_errors
    assert seen == {f"{op.method.upper()} {op.path}" for op in operations}
    # what is known and reported must still fail (so this list shrinks when it is fixed),
    # and nothing else may
    assert set(nonconforming) == set(KNOWN_NONCONFORMING), nonconforming
    record("schemathesis (API examples)", count)
    print(f"schemathesis: {count} examples over {len(operations)} operations, both modes")
