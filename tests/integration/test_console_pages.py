"""The console's pages against a real vault over HTTPS, driven as a browser without scripts
would: forms posted with the vault's Origin, the cookie kept. (The player's scripts run in
Chromium: tests/end_to_end/test_console_browser.py.)"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import VaultRequestError, enrol
from protocol.api.vocabulary import Purpose
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.vault_harness import (
    SettableClock,
    VaultUnderTest,
    running_vault,
    upload_recording,
)
from vault.roles import Role

PASSWORD = "a long enough test password"  # noqa: S105  (a throwaway vault's test users)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultUnderTest]:
    with running_vault(tmp_path) as vault:
        vault.add_person("tina", Role.TRAINER, password=PASSWORD)
        vault.add_person("rob", Role.REVIEWER, password=PASSWORD)
        vault.add_person("ada", Role.AUTHORISER, password=PASSWORD)
        vault.add_person("otto", Role.AUDITOR, password=PASSWORD)
        vault.add_person("alice", Role.AGENT, team="north", password=PASSWORD)
        vault.add_person("bob", Role.AGENT, team="south", password=PASSWORD)
        yield vault


def _origin(vault: VaultUnderTest) -> str:
    return str(vault.client.base_url).rstrip("/")


@contextlib.contextmanager
def browser(vault: VaultUnderTest, username: str | None = None) -> Iterator[httpx.Client]:
    """A client that keeps cookies and states the vault's origin on posts, as a browser on
    the console's pages does; signed in through the sign-in form when given a name."""
    with httpx.Client(
        base_url=vault.client.base_url,
        verify=client_ssl_context(_ca(vault)),
        headers={"Origin": _origin(vault)},
        timeout=30,
    ) as client:
        if username is not None:
            signed_in = client.post(
                "/console/sign-in", data={"username": username, "password": PASSWORD}
            )
            assert signed_in.status_code == 303, signed_in.text
        yield client


def _ca(vault: VaultUnderTest) -> Path:
    assert vault.ca is not None
    return vault.ca


def _form_post(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data=fields)


def test_sign_in_lands_on_the_first_page_the_roles_allow_and_sign_out_ends_it(
    vault: VaultUnderTest,
) -> None:
    with browser(vault) as client:
        assert (
            client.get("/console/sessions")
            .headers["location"]
            .startswith("/console/sign-in?then=/console/sessions")
        )
        wrong = _form_post(client, "/console/sign-in", username="tina", password="nope")  # noqa: S106
        assert wrong.status_code == 401
        assert "wrong user name or password" in wrong.text
        signed_in = _form_post(
            client, "/console/sign-in", username="tina", password=PASSWORD,
            then="/console/sessions",
        )  # fmt: skip
        assert signed_in.headers["location"] == "/console/sessions"
        cookie = signed_in.cookies["callreel_session"]
        assert "httponly" in signed_in.headers["set-cookie"].lower()
        assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
        assert client.get("/console/").headers["location"] == "/console/sessions"

        signed_out = _form_post(client, "/console/sign-out")
        assert signed_out.status_code == 303
    # The token behind the old cookie is revoked, not only forgotten by this browser.
    with browser(vault) as stale:
        stale.cookies.set("callreel_session", cookie)
        assert stale.get("/console/sessions").status_code == 303


def test_a_sign_in_never_returns_to_another_site(vault: VaultUnderTest) -> None:
    with browser(vault) as client:
        for then in ("//evil.example/console/", "https://evil.example/", "/console/\\evil"):
            answer = _form_post(
                client, "/console/sign-in", username="tina", password=PASSWORD, then=then
            )
            assert answer.headers["location"] == "/console/", then


def test_each_role_sees_its_own_pages_and_is_refused_the_others(vault: VaultUnderTest) -> None:
    expected_home = {
        "tina": "/console/sessions", "rob": "/console/recordings", "alice": "/console/mine",
        "ada": "/console/recordings", "otto": "/console/recordings",
    }  # fmt: skip
    for person, home in expected_home.items():
        with browser(vault, person) as client:
            assert client.get("/console/").headers["location"] == home, person
    with browser(vault, "alice") as agent:
        refused = agent.get("/console/recordings")
        assert refused.status_code == 403
        assert "recording.list" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert 'href="/console/recordings"' not in agent.get("/console/mine").text
        assert agent.get("/console/audit").status_code == 403
    with browser(vault, "otto") as auditor:
        assert auditor.get("/console/audit").status_code == 200
        assert auditor.get("/console/sessions").status_code == 403


def test_every_page_is_locked_down_and_loads_nothing_from_elsewhere(
    vault: VaultUnderTest,
) -> None:
    with browser(vault, "tina") as client:
        for path in ("/console/sign-in", "/console/sessions", "/console/recordings"):
            page = client.get(path)
            assert page.status_code == 200, path
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy
            assert "default-src 'none'" in policy
            assert "frame-ancestors 'none'" in policy
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["referrer-policy"] == "same-origin"
            assert not re.search(r'(src|href)="(https?:)?//', page.text), path
            assert "<script>" not in page.text, path
            assert " style=" not in page.text, path
        for asset in ("console.css", "player.js"):
            assert client.get(f"/console/static/{asset}").status_code == 200


def test_a_trainer_starts_and_ends_a_session_from_the_page(vault: VaultUnderTest) -> None:
    with browser(vault, "tina") as client:
        started = _form_post(
            client, "/console/sessions", **{"for": "agent"}, who="alice", purpose="training",
            calls="2", hours="4", notice="Tina coaches this call.",
        )  # fmt: skip
        assert started.status_code == 303
        session_id = started.headers["location"].split("started=")[1]
        listed = client.get("/console/sessions").text
        row = re.search(rf'<tr data-session="{session_id}">(.*?)</tr>', listed, re.S)
        assert row is not None
        assert "alice" in row[1]
        assert "active" in row[1]
        assert "2 of 2" in row[1]

        team = _form_post(
            client, "/console/sessions", **{"for": "team"}, who="north", purpose="quality",
            calls="1", hours="1", notice="Team coaching.",
        )  # fmt: skip
        assert team.status_code == 303

        ended = _form_post(client, f"/console/sessions/{session_id}/end")
        assert ended.status_code == 303
        listed = client.get("/console/sessions").text
        row = re.search(rf'<tr data-session="{session_id}">(.*?)</tr>', listed, re.S)
        assert row is not None
        assert "ended" in row[1]

        bad = _form_post(
            client, "/console/sessions", **{"for": "team"}, who="north", purpose="quality",
            calls="0", hours="4", notice="Coaching <b>the team</b>.",
        )  # fmt: skip
        assert bad.status_code == 400
        shown = html.unescape(bad.text)
        assert "Not started: 'calls' must be between 1 and 100" in shown
        # The form comes back as it was typed (escaped), so nothing is typed twice.
        assert 'value="north"' in bad.text
        assert 'value="team" checked' in bad.text
        assert '<option value="quality" selected>' in bad.text
        assert "Coaching &lt;b&gt;the team&lt;/b&gt;." in bad.text
        unknown = _form_post(
            client, "/console/sessions", **{"for": "agent"}, who="nobody", purpose="training",
            calls="1", hours="4", notice="x",
        )  # fmt: skip
        assert unknown.status_code == 404
        assert 'value="nobody"' in unknown.text


def test_a_form_posted_from_another_origin_is_refused(vault: VaultUnderTest) -> None:
    with browser(vault, "tina") as client:
        forged = client.post(
            "/console/sessions",
            data={"for": "agent", "who": "alice", "purpose": "training", "calls": "1",
                  "hours": "1", "notice": "forged"},
            headers={"Origin": "https://intranet.example.com"},
        )  # fmt: skip
        assert forged.status_code == 403
        assert "cross-site" in forged.text or "refused" in forged.text
        assert "forged" not in client.get("/console/sessions").text


def _recordings(vault: VaultUnderTest, agent: str, count: int) -> list[uuid.UUID]:
    device = vault.enrol_device(agent)
    made = []
    for _ in range(count):
        session = vault.start_session("tina", agent)
        made.append(upload_recording(vault, device, session).recording_id)
        clock = vault.ctx.clock
        assert isinstance(clock, SettableClock)
        clock.advance(timedelta(minutes=1))
    return made


def _listed_ids(page: str) -> list[str]:
    return re.findall(r'href="/console/recordings/([0-9a-f-]{36})"', page)


def test_the_recording_list_filters_and_pages_without_repeats(vault: VaultUnderTest) -> None:
    alices = _recordings(vault, "alice", 7)
    bobs = _recordings(vault, "bob", 2)
    with browser(vault, "rob") as client:
        everything = _listed_ids(client.get("/console/recordings").text)
        assert everything == [str(r) for r in reversed(alices + bobs)]
        assert _listed_ids(client.get("/console/recordings?team=south").text) == [
            str(r) for r in reversed(bobs)
        ]
        assert _listed_ids(client.get("/console/recordings?agent=alice&purpose=dispute").text) == []
        assert client.get("/console/recordings?state=nonsense").status_code == 422

        seen: list[str] = []
        path: str | None = "/console/recordings?agent=alice&limit=3"
        while path:
            page = client.get(path).text
            seen += _listed_ids(page)
            found = re.search(r'href="([^"]+)" rel="next"', page)
            path = html.unescape(found[1]) if found else None
        assert seen == [str(r) for r in reversed(alices)]
        assert client.get("/console/recordings?after=garbage.zz").status_code == 400


def test_playing_needs_a_matching_purpose_and_is_logged_first(vault: VaultUnderTest) -> None:
    (recording,) = _recordings(vault, "alice", 1)
    with browser(vault, "rob") as client:
        page = client.get(f"/console/recordings/{recording}")
        assert 'name="purpose"' in page.text
        no_purpose = _form_post(client, f"/console/recordings/{recording}/play", purpose="")
        assert no_purpose.status_code == 400
        mismatch = _form_post(
            client, f"/console/recordings/{recording}/play", purpose=Purpose.ABUSE.value
        )
        assert mismatch.status_code == 403
        assert "cannot be opened for abuse" in mismatch.text
        played = _form_post(
            client, f"/console/recordings/{recording}/play", purpose="training", t="1.5"
        )
        assert played.status_code == 303
        player = client.get(played.headers["location"])
        assert player.status_code == 200
        assert 'src="/console/static/player.js"' in player.text
        assert "No pauses or blacked-out frames" in player.text
        ticket = played.headers["location"].split("/console/play/")[1].split("?")[0]
        peaks = client.get(f"/api/v1/playback/{ticket}/peaks").json()
        assert peaks["per_second"] == 20
        assert [s["index"] for s in peaks["segments"]] == [0, 1, 2]
        assert all(len(s["agent"]) == len(s["caller"]) == 20 for s in peaks["segments"])
        assert max(max(s["agent"]) for s in peaks["segments"]) > 20
        assert max(max(s["caller"]) for s in peaks["segments"]) > 20
    with browser(vault, "otto") as auditor:
        audit = auditor.get(f"/console/audit?subject={recording}&action=playback").text
        assert "rob" in audit
        assert "training" in audit
        assert "abuse" not in audit  # the refused purpose opened nothing, so logged nothing
        assert "Intact:" in audit


def test_a_note_reaches_the_agent_is_logged_without_its_text_and_dies_with_the_recording(
    vault: VaultUnderTest,
) -> None:
    (recording,) = _recordings(vault, "alice", 1)
    with browser(vault, "tina") as trainer:
        added = trainer.post(
            f"/api/v1/recordings/{recording}/notes",
            json={"at_s": 1.25, "text": "Good greeting: <b>name</b> first"},
        )
        assert added.status_code == 201, added.text
        assert (
            trainer.post(
                f"/api/v1/recordings/{recording}/notes", json={"at_s": -1, "text": "x"}
            ).status_code
            == 422
        )
    with browser(vault, "alice") as agent:
        mine = agent.get("/console/mine").text
        assert "Good greeting: &lt;b&gt;name&lt;/b&gt; first" in mine
        assert "0:01" in mine
        assert "tina" in mine
    with browser(vault, "bob") as other_agent:
        assert other_agent.get(f"/api/v1/recordings/{recording}/notes").status_code == 403
    with browser(vault, "otto") as auditor:
        audit = auditor.get(f"/console/audit?subject={recording}").text
        assert "note-added" in audit
        assert "Good greeting" not in audit
        exported = auditor.get(f"/console/audit.csv?subject={recording}")
        assert exported.headers["content-type"].startswith("text/csv")
        assert "note-added" in exported.text
        assert "Good greeting" not in exported.text

    vault.add_person("adam", Role.ADMINISTRATOR)
    deleted = vault.client.post(
        f"/api/v1/recordings/{recording}/delete",
        headers=vault.as_user("adam"),
        json={"reason": "asked by the agent"},
    )
    assert deleted.status_code == 200, deleted.text
    with browser(vault, "alice") as agent:
        assert "Good greeting" not in agent.get("/console/mine").text


def test_a_release_needs_a_second_person_and_only_its_requester_exports_it(
    vault: VaultUnderTest,
) -> None:
    (recording,) = _recordings(vault, "alice", 1)
    vault.add_person("ava", Role.AUTHORISER, Role.REVIEWER, password=PASSWORD)
    with browser(vault, "ava") as requester:
        requested = _form_post(
            requester, f"/console/recordings/{recording}/releases", purpose="training",
            recipient="Training provider Ltd", reason="Module on greetings",
        )  # fmt: skip
        assert requested.status_code == 303
        page = requester.get("/console/releases").text
        release_id = re.search(r'data-release="([0-9a-f-]{36})"', page)
        assert release_id is not None
        assert "awaiting" in page
        assert f"/console/releases/{release_id[1]}/authorise" not in page  # not for oneself
        own = _form_post(requester, f"/console/releases/{release_id[1]}/authorise")
        assert own.status_code == 403
    with browser(vault, "ada") as authoriser:
        page = authoriser.get("/console/releases").text
        assert f"/console/releases/{release_id[1]}/authorise" in page
        assert (
            _form_post(authoriser, f"/console/releases/{release_id[1]}/authorise").status_code
            == 303
        )
        exported_log = authoriser.get("/console/releases.csv").text
        assert "Training provider Ltd" in exported_log
        assert "ada" in exported_log
    with browser(vault, "ava") as requester:
        page = requester.get("/console/releases").text
        assert f"/api/v1/releases/{release_id[1]}/export" in page
        assert requester.get(f"/api/v1/releases/{release_id[1]}/export").status_code == 200


def test_a_spreadsheet_formula_in_an_exported_cell_stays_text(vault: VaultUnderTest) -> None:
    (recording,) = _recordings(vault, "alice", 1)
    with browser(vault, "rob") as reviewer:
        _form_post(
            reviewer, f"/console/recordings/{recording}/releases", purpose="training",
            recipient="=HYPERLINK(\"http://x\")", reason="test",
        )  # fmt: skip
    with browser(vault, "ada") as authoriser:
        exported = authoriser.get("/console/releases.csv").text
        assert "'=HYPERLINK" in exported


def test_a_requester_without_the_release_log_sees_their_own_requests_only(
    vault: VaultUnderTest,
) -> None:
    first, second = _recordings(vault, "alice", 2)
    with browser(vault, "tina") as trainer:
        _form_post(
            trainer, f"/console/recordings/{first}/releases", purpose="training",
            recipient="Tina's partner", reason="coaching",
        )  # fmt: skip
    with browser(vault, "rob") as reviewer:
        requested = _form_post(
            reviewer, f"/console/recordings/{second}/releases", purpose="training",
            recipient="Rob's partner", reason="coaching",
        )  # fmt: skip
        assert requested.headers["location"] == "/console/releases?requested=1"
        page = reviewer.get(requested.headers["location"])
        assert page.status_code == 200
        assert "Rob&#39;s partner" in page.text
        assert "Tina" not in page.text
        assert "releases.csv" not in page.text
        assert reviewer.get("/console/releases.csv").status_code == 403


def test_a_one_time_link_signs_in_once_and_the_trays_link_sees_only_own_recordings(
    vault: VaultUnderTest,
) -> None:
    vault.add_person("tess", Role.TRAINER, Role.AGENT, password=PASSWORD)
    (recording,) = _recordings(vault, "tess", 1)
    device = vault.enrol_device("tess")
    link = device.console_link()
    with browser(vault) as client:
        form = client.get(link.path)  # a preview of the link spends nothing
        assert form.status_code == 200
        signed_in = client.post(link.path)
        assert signed_in.status_code == 303, signed_in.text
        assert client.get("/console/").headers["location"] == "/console/mine"
        assert str(recording) in client.get("/console/mine").text
        # Limited to the agent role, though tess is a trainer too.
        assert client.get("/console/sessions").status_code == 403
        assert client.get("/console/recordings").status_code == 403
    with browser(vault) as again:
        spent = again.post(link.path)
        assert spent.status_code == 401
        assert "used already or has expired" in html.unescape(spent.text)
        assert again.post("/console/sign-in/once/crl_forged").status_code == 401
    # What the tray opens: the whole link, on the vault's own address.
    url = device.console_sign_in_url()
    assert url.startswith(f"{_origin(vault)}/console/sign-in/once/")
    with browser(vault) as tray_browser:
        assert tray_browser.post(url).status_code == 303
        assert str(recording) in tray_browser.get("/console/mine").text


def _verify_export(path: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", "verify-export", str(path), "--public-key", key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_logs_export_as_signed_json_that_verifies_later_and_betrays_any_edit(
    vault: VaultUnderTest, tmp_path: Path
) -> None:
    (recording,) = _recordings(vault, "alice", 1)
    with browser(vault, "rob") as reviewer:
        _form_post(reviewer, f"/console/recordings/{recording}/play", purpose="training")
        _form_post(
            reviewer, f"/console/recordings/{recording}/releases", purpose="training",
            recipient="Training provider Ltd", reason="Module on greetings",
        )  # fmt: skip
    with browser(vault, "otto") as auditor:
        page = auditor.get("/console/audit").text
        key = re.search(r'<code id="signing-key">([^<]+)</code>', page)
        assert key is not None
        access_log = auditor.get("/console/audit.json", params={"action": "playback"})
        release_log = auditor.get("/console/releases.json")
    assert access_log.status_code == release_log.status_code == 200
    assert "attachment" in access_log.headers["content-disposition"]
    content = json.loads(access_log.content)["content"]
    assert content["exported_by"] == "otto"
    assert content["filters"] == {"action": "playback"}
    assert [r["actor"] for r in content["records"]] == ["rob"]
    assert content["chain"]["intact"] is True
    releases = json.loads(release_log.content)["content"]["releases"]
    assert [r["recipient"] for r in releases] == ["Training provider Ltd"]

    for name, export in [("access", access_log.content), ("release", release_log.content)]:
        kept = tmp_path / f"{name}.json"
        kept.write_bytes(export)
        verified = _verify_export(kept, key[1])
        assert verified.returncode == 0, verified.stderr
        assert "verified" in verified.stdout
        kept.write_bytes(export.replace(b"rob", b"eve").replace(b"Training", b"Trading"))
        tampered = _verify_export(kept, key[1])
        assert tampered.returncode == 1
        assert "NOT verified" in tampered.stderr
        assert "changed after export" in tampered.stderr
    with browser(vault, "rob") as reviewer:
        assert reviewer.get("/console/audit.json").status_code == 403
        assert reviewer.get("/console/releases.json").status_code == 403


def test_retention_shows_rules_holds_what_is_due_and_what_was_shredded(
    vault: VaultUnderTest,
) -> None:
    kept, expiring = _recordings(vault, "alice", 2)
    vault.add_person("max", Role.ADMINISTRATOR, password=PASSWORD)
    with browser(vault, "max") as admin:
        placed = _form_post(admin, f"/console/recordings/{kept}/hold", reason="Tribunal 2026/17")
        assert placed.status_code == 303
        assert "Lift the legal hold" in admin.get(f"/console/recordings/{kept}").text
        assert _form_post(admin, f"/console/recordings/{expiring}/hold", reason=" ").status_code \
            == 400  # fmt: skip
        page = admin.get("/console/retention").text
        assert "Tribunal 2026/17" in page
        assert "730 days" in page  # the rule: deleted after 24 months
        assert "Nothing is due for deletion" in page
    clock = vault.ctx.clock
    assert isinstance(clock, SettableClock)
    clock.advance(timedelta(days=3 * 365))
    with browser(vault, "max") as admin:  # signed in again: the old sign-in has expired
        page = admin.get("/console/retention").text
        assert "(kept: legal hold)" in page
        ran = _form_post(admin, "/console/retention/run")
        assert ran.headers["location"] == "/console/retention?ran=1&held=1"
        page = admin.get(ran.headers["location"]).text
        assert "1 recording(s) shredded" in page
        shredded = page.split('id="shredded-heading"')[1]
        assert "alice" in shredded
        assert _form_post(admin, f"/console/recordings/{kept}/hold/lift").status_code == 303
        assert "No recording is under legal hold" in admin.get("/console/retention").text
    with browser(vault, "otto") as auditor:
        overview = auditor.get("/console/retention")
        assert overview.status_code == 200
        assert "Run retention now" not in overview.text
        assert "Lift hold" not in overview.text
        assert _form_post(auditor, "/console/retention/run").status_code == 403
    with browser(vault, "rob") as reviewer:
        assert reviewer.get("/console/retention").status_code == 403
        assert 'href="/console/retention"' not in reviewer.get("/console/recordings").text


def test_devices_show_their_health_and_an_administrator_revokes_one(
    vault: VaultUnderTest,
) -> None:
    vault.enrol_device("alice")
    vault.add_person("max", Role.ADMINISTRATOR, password=PASSWORD)
    with browser(vault, "otto") as auditor:
        page = auditor.get("/console/devices").text
        assert "1 device(s): 1 silent" in page  # enrolled, never heard from since
        assert "Revoke" not in page
    with browser(vault, "max") as admin:
        page = admin.get("/console/devices").text
        device = re.search(r'action="/console/devices/([0-9a-f-]{36})/revoke"', page)
        assert device is not None
        assert _form_post(admin, f"/console/devices/{device[1]}/revoke").status_code == 303
        assert "No device is enrolled" in admin.get("/console/devices").text
    with browser(vault, "tina") as trainer:
        assert trainer.get("/console/devices").status_code == 403


def test_an_administrator_makes_a_fleet_token_sees_it_once_and_the_logins_it_refused(
    vault: VaultUnderTest,
) -> None:
    vault.add_person("max", Role.ADMINISTRATOR, password=PASSWORD)
    with browser(vault, "max") as admin:
        refused = _form_post(admin, "/console/fleet-tokens", team="north", uses="0", days="30",
                             label="Leeds floor 2")  # fmt: skip
        assert refused.status_code == 400
        assert "Not made: &#39;uses&#39; must be between 1 and 100000" in refused.text
        assert 'value="Leeds floor 2"' in refused.text  # nothing to type twice
        made = _form_post(admin, "/console/fleet-tokens", team="north", uses="5", days="30",
                          label="Leeds floor 2")  # fmt: skip
        assert made.status_code == 200
        assert made.headers["Cache-Control"] == "no-store"
        token = re.search(r'<output id="new-fleet-token"><code>(crf_[\w-]{32})</code>', made.text)
        assert token is not None
        assert token[1] not in admin.get("/console/devices").text, "shown once only"

        http = httpx.Client(base_url=vault.client.base_url, verify=client_ssl_context(_ca(vault)))
        with http:
            assert (
                enrol(http, token[1], DeviceKey.generate(), "desk-4", r"CORP\Alice").agent
                == "alice"
            )
            with pytest.raises(VaultRequestError, match="no Callreel agent account 'zed'"):
                enrol(http, token[1], DeviceKey.generate(), "desk-5", "zed@corp.example")
        page = admin.get("/console/devices").text
        assert "1 of 5" in page
        assert "callreel-vault user add --role agent --team 'north' zed" in page
        token_id = re.search(r'action="/console/fleet-tokens/([0-9a-f-]{36})/revoke"', page)
        assert token_id is not None
        assert _form_post(admin, f"/console/fleet-tokens/{token_id[1]}/revoke").status_code == 303
        assert "revoked" in admin.get("/console/devices").text
    with browser(vault, "otto") as auditor:
        page = auditor.get("/console/devices").text
        assert "Fleet enrolment tokens" not in page
        assert _form_post(auditor, "/console/fleet-tokens", team="north", uses="5",
                          days="30").status_code == 403  # fmt: skip


def test_a_subject_access_export_is_a_logged_zip_of_the_agents_data(vault: VaultUnderTest) -> None:
    _recordings(vault, "alice", 1)
    vault.add_person("max", Role.ADMINISTRATOR, password=PASSWORD)
    with browser(vault, "max") as admin:
        assert "Subject access export" in admin.get("/console/retention").text
        export = admin.get("/console/subject-access", params={"agent": "alice"})
        assert export.status_code == 200
        assert export.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
            assert archive.namelist()
        assert admin.get("/console/subject-access", params={"agent": "nobody"}).status_code == 404
    with browser(vault, "otto") as auditor:
        assert "Subject access export" not in auditor.get("/console/retention").text
        assert auditor.get("/console/subject-access", params={"agent": "alice"}).status_code \
            == 403  # fmt: skip
        assert "alice" in auditor.get("/console/audit", params={"who": "max"}).text
