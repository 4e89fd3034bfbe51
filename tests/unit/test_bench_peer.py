"""The bench's peer project (bench/peer.py): the same intents, entities and NLU data as
Xiangyin, one static response and one rule per intent, nothing that needs an action server;
its model's fingerprint follows its inputs."""
from __future__ import annotations

from pathlib import Path

import yaml

from bench.peer import NLU_DIR, fingerprint, write_project
from bot.config import PROJECT_ROOT


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_peer_answers_every_intent_with_a_static_response_and_nothing_else(tmp_path):
    project = write_project(tmp_path / "peer")
    ours = _yaml(PROJECT_ROOT / "domain.yml")
    peer = _yaml(project / "domain.yml")
    intents = [next(iter(i)) if isinstance(i, dict) else i for i in ours["intents"]]
    assert peer["intents"] == ours["intents"] and peer["entities"] == ours["entities"]
    assert set(peer["responses"]) == {f"utter_{i}" for i in intents} | {"utter_default"}
    assert all(r[0]["text"] and "{" not in r[0]["text"] for r in peer["responses"].values())
    assert "actions" not in peer and "forms" not in peer and "slots" not in peer
    rules = _yaml(project / "data" / "peer_rules.yml")["rules"]
    assert [r["steps"] for r in rules] == [[{"intent": i}, {"action": f"utter_{i}"}] for i in intents]
    copied = sorted(p.name for p in (project / "data").glob("*.yml") if p.name != "peer_rules.yml")
    assert copied == sorted(p.name for p in NLU_DIR.glob("*.yml"))
    assert _yaml(project / "credentials.yml") == {"rest": {}}
    assert _yaml(project / "endpoints.yml") == {}


def test_the_fingerprint_is_stable_and_follows_the_generated_project(tmp_path):
    first = fingerprint(write_project(tmp_path / "a"))
    assert fingerprint(write_project(tmp_path / "b")) == first
    changed = write_project(tmp_path / "c")
    with open(changed / "data" / "peer_rules.yml", "a", encoding="utf-8") as out:
        out.write("# one more line\n")
    assert fingerprint(changed) != first


def test_the_turn_bench_takes_xiangyin_and_the_peer_in_turn_and_sums_each_side(monkeypatch):
    """Rounds alternate (ours, the peer's, ours …) so a machine whose speed drifts weighs on both
    sides alike; each side's figures come from its own rounds only."""
    from bench import run

    calls = []

    def fake_round(url, users, token, pids, r):
        calls.append((url, r))
        latency = 0.010 if url == "ours" else 0.005
        return [[latency] * len(run.TURNS) for _ in range(users)], [0.1 * users, 0.05 * users], 1.0

    monkeypatch.setattr(run, "_round", fake_round)
    ours, peer = run._run_pair(("ours", True, [1, 2]), ("peer", False, [3]), 1)
    assert calls == [(side, r) for r in range(run.ROUNDS[1]) for side in ("ours", "peer")]
    assert ours["turns"] == peer["turns"] == run.ROUNDS[1] * len(run.TURNS)
    assert ours["p50"] == 0.010 and peer["p50"] == 0.005
    assert abs(sum(ours["cpu"]) - 0.15 * run.ROUNDS[1] / ours["turns"]) < 1e-12
