"""Deliver exactly once when senders die: the outbox lease, and senders killed mid-batch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from digest.deliver import LEASE, flush_outbox, make_mailer
from tests.conftest import REPO
from tests.digests import NOW
from tests.outbox_fixtures import Outbox, run_cli
from tests.smtp_fixtures import Received, SmtpSink

# -- the lease -------------------------------------------------------------------------------------


def test_a_live_sender_holds_the_outbox_and_a_dead_ones_lease_is_taken_over(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    import socket
    from datetime import UTC, datetime

    outbox.queue(1)
    host = socket.gethostname()
    alive = f"{host}:{os.getpid()}:other"
    outbox.store.acquire_lease(LEASE, alive, datetime.now(UTC), timedelta(minutes=5))
    busy = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert busy.busy == alive and busy.sent == []
    outbox.store.release_lease(LEASE, alive)
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead = f"{host}:{int(done.stdout)}:gone"
    outbox.store.acquire_lease(LEASE, dead, datetime.now(UTC), timedelta(minutes=5))
    assert len(flush_outbox(outbox.store, make_mailer(outbox.settings), NOW).sent) == 1


# -- killed senders --------------------------------------------------------------------------------


SENDER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from digest.config import load_settings
from digest.deliver import flush_outbox, make_mailer
from digest.store import Store

settings = load_settings(Path(sys.argv[1]))
store = Store.open(settings.database_url)
while True:
    result = flush_outbox(store, make_mailer(settings), datetime.now(UTC))
    if not (result.sent or result.retrying or result.busy):
        break
"""


def start_sender(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", SENDER, str(config)], env=env, cwd=REPO)


def test_a_sender_killed_at_random_points_loses_nothing_and_repeats_only_in_flight(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    subs = outbox.queue(100)
    config = outbox.settings.base_dir / "config.toml"
    kills = 0
    for _ in range(8):
        before = smtp_sink.data_commands
        sender = start_sender(config)
        deadline = time.monotonic() + 20
        while smtp_sink.data_commands == before and sender.poll() is None:
            assert time.monotonic() < deadline, "the sender never started sending"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.04))
        if sender.poll() is None:
            sender.send_signal(signal.SIGKILL)
            kills += 1
        sender.wait()
    final = start_sender(config)
    assert final.wait(timeout=60) == 0
    counts = smtp_sink.per_recipient()
    assert set(counts) == {s.email for s in subs}, f"seed {seed}: a digest was lost"
    duplicated = {r for r, n in counts.items() if n > 1}
    assert all(counts[r] == 2 for r in duplicated) and len(duplicated) <= kills, (
        seed,
        kills,
        {r: counts[r] for r in duplicated},
    )
    stored = {m.recipient: m for m in outbox.store.list_messages(limit=1000)}
    assert {m.status for m in stored.values()} == {"sent"}
    for recipient in duplicated:  # only a message whose attempt a kill cut short
        assert stored[recipient].interrupted >= 1, (seed, recipient)
        copies = [m for m in smtp_sink.received if m.rcpt_tos == [recipient]]
        assert copies[0].data == copies[1].data  # same bytes, same Message-ID


def test_the_unavoidable_duplicate_carries_the_same_message_id(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    subs = outbox.queue(3)
    config = outbox.settings.base_dir / "config.toml"
    senders: list[subprocess.Popen[bytes]] = []

    def kill_after_accepting_the_second(received: Received) -> None:
        if len(smtp_sink.received) == 2:  # accepted, but the 250 never reaches the sender
            senders[-1].send_signal(signal.SIGKILL)
            senders[-1].wait()

    smtp_sink.on_accept = kill_after_accepting_the_second
    senders.append(start_sender(config))
    assert senders[0].wait(timeout=60) == -signal.SIGKILL
    smtp_sink.on_accept = None
    senders.append(start_sender(config))
    assert senders[1].wait(timeout=60) == 0
    assert smtp_sink.per_recipient() == {subs[0].email: 1, subs[1].email: 2, subs[2].email: 1}
    first, second = (m for m in smtp_sink.received if m.rcpt_tos == [subs[1].email])
    assert first.message_id == second.message_id and first.data == second.data
    twice = outbox.store.list_messages(status="sent")
    assert [m.interrupted for m in sorted(twice, key=lambda m: m.id)] == [0, 1, 0]
    listing = run_cli(config, "outbox").output
    assert "may have arrived twice" in listing
