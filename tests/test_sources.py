"""Sources: mail (mbox, Maildir, .eml), chats and calls, languages, managing sources, and
the app's filter by source. Every fixture is built here, byte by byte where the encoding
is the point."""

from __future__ import annotations

import base64
import csv
import json
import mailbox
import quopri
from pathlib import Path

import pytest

from cmtui.cli import main
from cmtui.sample import generate, sample_path, write_csv, write_mbox
from cmtui.session import Session
from cmtui.sources.language import language_of
from cmtui.sources.mail import kind_of, mail_id
from cmtui.store import Store
from tests.test_import import snapshot


def mail(headers: dict[str, str], body: bytes | str = "Hello there, this is a message.\n", *,
         content_type: str = "text/plain; charset=utf-8", cte: str | None = None) -> bytes:
    """One mail's bytes, headers as given (encoded words and all)."""
    lines = [f"{name}: {value}" for name, value in headers.items()]
    lines.append("MIME-Version: 1.0")
    lines.append(f"Content-Type: {content_type}")
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return ("\n".join(lines) + "\n\n").encode("ascii") + raw


def alternative(plain: bytes, plain_cte: str, html: bytes, html_cte: str, charset: str = "utf-8") -> tuple[bytes, str]:
    body = (b"--XYZ\nContent-Type: text/plain; charset=" + charset.encode() + b"\nContent-Transfer-Encoding: "
            + plain_cte.encode() + b"\n\n" + plain + b"\n--XYZ\nContent-Type: text/html; charset=utf-8\n"
            b"Content-Transfer-Encoding: " + html_cte.encode() + b"\n\n" + html + b"\n--XYZ--\n")
    return body, 'multipart/alternative; boundary="XYZ"'


def thread_of_four() -> list[bytes]:
    """A question, two replies and a reply to a reply: References name the root first."""
    root = mail({"Message-ID": "<root@ins.example>", "Date": "Mon, 01 Jul 2024 09:00:00 +0200",
                 "From": "Ann <ann@x.org>", "To": "claims@ins.example", "Subject": "My claim"},
                "Where is my claim?\n")
    replies = []
    for n, parent in ((1, "root@ins.example"), (2, "root@ins.example"), (3, "r1@ins.example")):
        refs = "<root@ins.example>" + ("" if parent == "root@ins.example" else f" <{parent}>")
        replies.append(mail({"Message-ID": f"<r{n}@ins.example>", "Date": f"Mon, 01 Jul 2024 1{n}:00:00 +0000",
                             "From": "claims@ins.example", "To": "ann@x.org", "Subject": "Re: My claim",
                             "In-Reply-To": f"<{parent}>", "References": refs}, f"Reply number {n}.\n"))
    return [root, *replies]


def fixture_mails() -> list[bytes]:
    plain = "Grüße aus München: the car was hit at the junction, see the photos.".encode()
    html = base64.encodebytes(b"<p>Same as <b>plain</b></p>")
    body, kind = alternative(quopri.encodestring(plain), "quoted-printable", html, "base64")
    latin = "Sch\xe4den am Auto".encode("latin-1")  # the plain part in ISO-8859-1, base64
    body2, kind2 = alternative(base64.encodebytes(latin), "base64", base64.encodebytes(b"<p>x</p>"), "base64",
                               charset="iso-8859-1")
    return [
        mail({"Message-ID": "<qp@ins.example>", "Date": "Tue, 02 Jul 2024 08:30:00 +0100",
              "From": "=?iso-8859-1?q?J=FCrgen_M=FCller?= <jm@x.de>", "To": "claims@ins.example",
              "Cc": "=?utf-8?b?0JDQvdC90LA=?= <anna@x.ru>",
              "Subject": "=?utf-8?b?U2NoYWRlbm1lbGR1bmcg4oCTIFVuZmFsbA==?="}, body, content_type=kind),
        mail({"Message-ID": "<b64@ins.example>", "Date": "not a date at all",
              "Received": "from mx.example by ins.example; Wed, 03 Jul 2024 10:00:00 +0000",
              "From": "x@y.org", "Subject": "=?iso-8859-1?q?Sch=E4den?="}, body2, content_type=kind2),
        mail({"Date": "Thu, 04 Jul 2024 12:00:00 -0500", "From": "nobody@y.org",
              "Subject": "No Message-ID here"}, "Please call me back about my policy.\n"),
        mail({"Message-ID": "<subject-only@ins.example>", "Date": "Fri, 05 Jul 2024 12:00:00 +0000",
              "From": "z@y.org", "Subject": "Cancel my policy"}, ""),
        *thread_of_four(),
    ]


def write_mbox_file(path: Path, mails: list[bytes]) -> Path:
    with path.open("wb") as handle:
        for raw in mails:
            handle.write(b"From MAILER-DAEMON Mon Jul  1 00:00:00 2024\n" + raw.rstrip(b"\n") + b"\n\n")
    return path


def imported(db: Path, dataset: str = "d") -> dict[str, dict]:
    frame = Store(db).messages_frame(dataset)
    return {row["id"]: row for row in frame.to_dicts()}


def test_an_mbox_gives_every_field_decoded(tmp_path: Path, db_path: Path) -> None:
    box = write_mbox_file(tmp_path / "inbox", fixture_mails())  # no extension: told by content
    assert kind_of(box) == "mbox"
    assert main(["import", str(box), "--dataset", "d", "--db", str(db_path)]) == 0
    rows = imported(db_path)
    assert len(rows) == 8
    qp = rows["qp@ins.example"]
    assert qp["subject"] == "Schadenmeldung – Unfall"  # UTF-8, base64 encoded word
    assert qp["sender"] == "Jürgen Müller <jm@x.de>"  # ISO-8859-1, quoted-printable encoded word
    assert qp["cc"] == "Анна <anna@x.ru>"
    assert qp["body"] == "Grüße aus München: the car was hit at the junction, see the photos."  # text/plain chosen
    assert str(qp["ts"]) == "2024-07-02 07:30:00"  # +01:00 in UTC
    props = json.loads(qp["properties"])
    assert props["timezone"] == "+01:00" and props["attachments"] == 0
    b64 = rows["b64@ins.example"]
    assert b64["subject"] == "Schäden" and b64["body"] == "Schäden am Auto"  # base64 part in ISO-8859-1
    assert str(b64["ts"]) == "2024-07-03 10:00:00" and json.loads(b64["properties"])["date_from"] == "Received"
    no_id = [r for i, r in rows.items() if i.startswith("nomsgid-")]
    assert len(no_id) == 1 and no_id[0]["subject"] == "No Message-ID here"
    assert str(no_id[0]["ts"]) == "2024-07-04 17:00:00"
    assert rows["subject-only@ins.example"]["body"] == ""  # kept: it has a subject
    # the thread of four: every message carries its root's id, the root too
    thread = {i: rows[i]["thread_id"] for i in ("root@ins.example", "r1@ins.example", "r2@ins.example", "r3@ins.example")}
    assert set(thread.values()) == {"root@ins.example"}
    assert qp["thread_id"] is None
    # a second import is stable: the same ids (the hash of a mail without Message-ID too)
    assert main(["import", str(box), "--dataset", "d", "--db", str(db_path)]) == 0
    assert sorted(imported(db_path)) == sorted(rows)


def test_message_ids_become_ascii_without_slashes() -> None:
    assert mail_id("<a/b%c@x.org>", b"") == "a%2Fb%25c@x.org"
    assert mail_id(" <José@x.org> ", b"") == "Jos%C3%A9@x.org"
    assert mail_id("", b"raw bytes") == mail_id("", b"raw bytes\n")  # stable, and line ends do not count
    assert mail_id("", b"raw bytes").startswith("nomsgid-")


def test_a_maildir_with_sub_folders_and_html_only_mail(tmp_path: Path, db_path: Path) -> None:
    root = tmp_path / "Mail"
    inbox = mailbox.Maildir(root, create=True)
    inbox.add(mail({"Message-ID": "<in1@x>", "Date": "Mon, 01 Jul 2024 09:00:00 +0000", "From": "a@x",
                    "Subject": "Inbox one"}, "first\n"))
    archive = inbox.add_folder("Archive")
    archive.add(mail({"Message-ID": "<ar1@x>", "Date": "Mon, 01 Jul 2024 10:00:00 +0000", "From": "b@x",
                      "Subject": "Old"}, "<html><body><h1>Policy</h1><p>Read the <a href='https://ins.example/t'>terms</a>."
                      "</p><ul><li>one</li><li>two</li></ul></body></html>", content_type="text/html; charset=utf-8"))
    archive.add_folder("2024").add(mail({"Message-ID": "<y1@x>", "From": "c@x", "Subject": "Nested"}, "deep\n"))
    assert kind_of(root) == "maildir"
    assert main(["import", str(root), "--dataset", "d", "--db", str(db_path)]) == 0
    rows = imported(db_path)
    folders = {i: json.loads(r["properties"])["folder"] for i, r in rows.items()}
    assert folders == {"in1@x": "INBOX", "ar1@x": "Archive", "y1@x": "Archive/2024"}
    html = rows["ar1@x"]["body"]
    assert "Policy" in html and "terms" in html and "https://ins.example/t" in html  # the link kept as text
    assert "<" not in html and ">" not in html  # no markup left
    assert json.loads(rows["y1@x"]["properties"])["date_from"] == "delivery time"  # no Date: the Maildir's


def test_a_folder_of_eml_files_and_one_eml(tmp_path: Path, db_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    attached = (b"--B\nContent-Type: text/plain\n\nSee attached.\n--B\nContent-Type: application/pdf\n"
                b"Content-Disposition: attachment; filename=\"claim form.pdf\"\nContent-Transfer-Encoding: base64\n\n"
                + base64.encodebytes(b"%PDF-1.4") + b"--B--\n")
    (folder / "a.eml").write_bytes(mail({"Message-ID": "<e1@x>", "Date": "Mon, 01 Jul 2024 09:00:00 +0000",
                                         "From": "a@x", "Subject": "With a file"}, attached,
                                        content_type='multipart/mixed; boundary="B"'))
    (folder / "b.txt").write_bytes(mail({"Message-ID": "<e2@x>", "From": "b@x", "Subject": "Named .txt"},
                                        base64.encodebytes("<div>Hi &amp; <i>thanks</i><br>Zoë</div>".encode()),
                                        content_type="text/html; charset=utf-8", cte="base64"))
    assert kind_of(folder) == "eml-folder" and kind_of(folder / "a.eml") == "eml"
    assert main(["import", str(folder), "--dataset", "d", "--db", str(db_path)]) == 0
    rows = imported(db_path)
    props = json.loads(rows["e1@x"]["properties"])
    assert props["attachments"] == 1 and props["attachment_names"] == "claim form.pdf"
    assert rows["e1@x"]["body"] == "See attached."
    assert json.loads(rows["e2@x"]["properties"])["date_from"] == "file time"
    assert rows["e2@x"]["body"].split() == ["Hi", "&", "thanks", "Zoë"]  # HTML only, base64: text, no markup
    assert main(["import", str(folder / "a.eml"), "--dataset", "one", "--db", str(db_path)]) == 0
    assert list(imported(db_path, "one")) == ["e1@x"]


def test_a_bad_mail_refuses_the_import_unless_skipped(tmp_path: Path, db_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = mail({"Message-ID": "<ok@x>", "Date": "Mon, 01 Jul 2024 09:00:00 +0000", "From": "a@x",
                 "Subject": "fine"}, "fine\n")
    empty = mail({"Message-ID": "<empty@x>", "From": "a@x"}, "")  # no subject and no text
    box = write_mbox_file(tmp_path / "box.mbox", [good, good.replace(b"ok@x", b"ok2@x"), empty])
    before = snapshot(db_path)
    assert main(["import", str(box), "--dataset", "d", "--db", str(db_path)]) == 2
    err = capsys.readouterr().err
    assert f"{box}:" in err and "neither a subject nor any text" in err and "--skip-bad" in err
    line = int(err.split(f"{box}:")[1].split(":")[0])
    assert box.read_bytes().split(b"\n")[line - 1].startswith(b"From ")  # the bad mail's From line
    assert box.read_bytes().split(b"\n")[line].startswith(b"Message-ID: <empty@x>")
    assert snapshot(db_path) == before  # nothing written
    assert main(["import", str(box), "--dataset", "d", "--db", str(db_path), "--skip-bad"]) == 0
    assert "1 mails that cannot be read skipped" in capsys.readouterr().out
    assert sorted(imported(db_path)) == ["ok2@x", "ok@x"]


@pytest.mark.parametrize("content", [
    b"", b"\n", b"From a\n", b"From a", b"From a\nx\n\nFrom b\ny\n", b"From a\n\nFrom b\n\n",
    b"junk before\n\nFrom a\nx\nFrom b\nFrom c\n\n\n", b"From a\r\nx\r\n\r\nFrom b\r\ny",
    b"From a\n>From quoted\nFromage\n From indented\n\nFrom b 2\nz\n\n",
])
def test_the_mbox_table_of_contents_is_the_standard_librarys(tmp_path: Path, content: bytes) -> None:
    """The fast table of contents gives the mails ``mailbox.mbox`` gives, and the line of
    each mail's From line."""
    from cmtui.sources.mail import _Mbox

    path = tmp_path / "box"
    path.write_bytes(content)
    ours, theirs = _Mbox(path, create=False), mailbox.mbox(path, create=False)
    assert [ours.get_bytes(k, from_=True) for k in ours.iterkeys()] == \
        [theirs.get_bytes(k, from_=True) for k in theirs.iterkeys()]
    lines = content.split(b"\n")
    assert [lines[ours.lines[k] - 1].startswith(b"From ") for k in ours.iterkeys()] == [True] * len(ours)


def test_the_sample_mailbox_as_an_mbox_gives_the_messages_of_its_csv(tmp_path: Path, db_path: Path) -> None:
    """The same messages: ids, times, subjects, senders, recipients, attachment counts and
    bodies (HTML-only mail compared word for word: its line breaks are the HTML's), and the
    same threads (the mbox names a thread by its first message, the CSV by a T-number)."""
    with sample_path().open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:600]  # the bundled sample mailbox (its first 600: CI time)
    write_csv(tmp_path / "m.csv", iter(rows), with_labels=False)
    write_mbox(tmp_path / "m.mbox", iter(rows))
    assert main(["import", str(tmp_path / "m.csv"), "--dataset", "csv", "--db", str(db_path)]) == 0
    assert main(["import", str(tmp_path / "m.mbox"), "--dataset", "mbox", "--db", str(db_path)]) == 0
    from_csv, from_mbox = imported(db_path, "csv"), imported(db_path, "mbox")
    assert sorted(from_csv) == sorted(from_mbox)
    for key, a in from_csv.items():
        b = from_mbox[key]
        assert (a["ts"], a["subject"], a["sender"], a["recipients"]) == (b["ts"], b["subject"], b["sender"], b["recipients"])
        assert a["body"].split() == b["body"].split()
        assert json.loads(a["properties"])["attachments"] == json.loads(b["properties"])["attachments"]
        assert json.loads(a["properties"])["language"] == json.loads(b["properties"])["language"]

    def threads(found: dict[str, dict]) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for key, row in found.items():
            if row["thread_id"]:
                groups.setdefault(row["thread_id"], set()).add(key)
        return {frozenset(g) for g in groups.values() if len(g) > 1}

    assert threads(from_csv) == threads(from_mbox) and threads(from_csv)


# ---- chats and calls ---------------------------------------------------------------------
CHAT = [
    {"id": "c1", "timestamp": "2024-07-01T09:00:00Z", "channel": "web chat",
     "turns": [{"speaker": "Customer", "text": "My boiler broke and flooded the kitchen."},
               {"speaker": "Agent Smith", "text": "Sorry to hear that, do you have a policy number?",
                "timestamp": "2024-07-01T09:00:40Z"},
               {"speaker": "Customer", "text": "Yes, HM-123456."}]},
    {"id": "c2", "timestamp": "2024-07-01T10:00:00Z", "channel": "phone",
     "turns": [{"speaker": "Caller", "text": "I want to cancel my car insurance."}]},
]


def test_chat_jsonl_keeps_turns_and_learns_from_words_only(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CHAT) + "\n")
    assert main(["import", str(path), "--dataset", "d", "--db", str(db_path)]) == 0
    rows = imported(db_path)
    assert rows["c1"]["body"] == ("My boiler broke and flooded the kitchen.\n"
                                  "Sorry to hear that, do you have a policy number?\nYes, HM-123456.")
    assert "Agent" not in rows["c1"]["body"] and "Customer" not in rows["c1"]["body"]  # no speaker names
    turns = json.loads(rows["c1"]["turns"])
    assert [t["speaker"] for t in turns] == ["Customer", "Agent Smith", "Customer"]
    assert turns[1]["timestamp"] == "2024-07-01T09:00:40Z"
    assert json.loads(rows["c2"]["properties"])["channel"] == "phone"
    session = Session.open(Store(db_path), "d", "ann")
    shown = session.rows([rows["c1"]["mid"]])[0]
    assert [t["speaker"] for t in shown.turn_list()] == ["Customer", "Agent Smith", "Customer"]
    for name in ("out.csv", "out.jsonl"):  # an export keeps the turns, and imports back the same
        assert main(["export", "--out", str(tmp_path / name), "--dataset", "d", "--db", str(db_path)]) == 0
        assert main(["import", str(tmp_path / name), "--dataset", name, "--db", str(db_path)]) == 0
        back = imported(db_path, name)
        assert [back[i]["turns"] for i in ("c1", "c2")] == [rows[i]["turns"] for i in ("c1", "c2")]
        assert [back[i]["body"] for i in ("c1", "c2")] == [rows[i]["body"] for i in ("c1", "c2")]


def test_a_csv_of_turns_is_grouped_by_conversation(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "turns.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["conversation_id", "speaker", "text", "timestamp", "channel"])
        for chat in CHAT:
            for n, turn in enumerate(chat["turns"]):
                out.writerow([chat["id"], turn["speaker"], turn["text"], turn.get("timestamp", chat["timestamp"] if n == 0 else ""),
                              chat["channel"]])
    assert main(["import", str(path), "--dataset", "d", "--db", str(db_path)]) == 0
    rows = imported(db_path)
    assert sorted(rows) == ["c1", "c2"]
    assert rows["c1"]["body"].count("\n") == 2 and str(rows["c1"]["ts"]) == "2024-07-01 09:00:00"
    assert [t["speaker"] for t in json.loads(rows["c1"]["turns"])] == ["Customer", "Agent Smith", "Customer"]


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("a.jsonl", '{"id": "1", "timestamp": "2024-01-01", "turns": [{"speaker": "A", "text": "hi"}]}\n'
                '{"id": "2", "timestamp": "2024-01-01", "turns": [{"text": "no speaker"}]}\n',
     "a.jsonl:2: turns: turn 1 has no speaker"),
    ("b.jsonl", '{"id": "1", "timestamp": "2024-01-01", "turns": "hello"}\n', "b.jsonl:1: turns: not valid JSON"),
    ("c.jsonl", '{"id": "1", "timestamp": "2024-01-01", "turns": []}\n', "c.jsonl:1: turns: turns must be a non-empty list"),
    ("d.csv", "conversation_id,speaker,text,timestamp\nc1,A,hi,2024-01-01\n,B,lost,2024-01-01\n",
     "d.csv:3: conversation_id: conversation_id is empty"),
    ("e.csv", "conversation_id,speaker,text,timestamp\nc1,,hi,2024-01-01\n", "e.csv:2: speaker: speaker is empty"),
])
def test_bad_conversations_are_refused_with_file_and_line(tmp_path: Path, db_path: Path, name: str, text: str,
                                                          expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    before = snapshot(db_path)
    assert main(["import", str(path), "--dataset", "d", "--db", str(db_path)]) == 2
    assert expected in capsys.readouterr().err
    assert snapshot(db_path) == before


# ---- languages ---------------------------------------------------------------------------
LANGUAGES = {  # 10 languages in 5 scripts: Latin, Cyrillic, Greek, Arabic, Han/Kana/Hangul
    "en": "Hello, I would like to report a claim on my car insurance after an accident.",
    "de": "Guten Tag, ich möchte einen Schaden an meinem Auto melden, es gab einen Unfall.",
    "fr": "Bonjour, je voudrais déclarer un sinistre sur mon assurance auto après un accident.",
    "es": "Hola, quiero presentar una reclamación de mi seguro de coche tras un accidente.",
    "ru": "Здравствуйте, я хочу сообщить о страховом случае с моей машиной после аварии.",
    "el": "Γεια σας, θέλω να δηλώσω μια ζημιά στο αυτοκίνητό μου μετά από ένα ατύχημα.",
    "ar": "مرحبا، أريد تقديم مطالبة على تأمين سيارتي بعد حادث.",
    "zh": "您好，我想就我的汽车保险在事故后提出索赔。",
    "ja": "こんにちは、事故の後で自動車保険の請求をしたいです。",
    "ko": "안녕하세요, 사고 후 자동차 보험 청구를 하고 싶습니다.",
}


def test_every_message_gets_its_language(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "many.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "timestamp", "body"])
        for code, text in LANGUAGES.items():
            out.writerow([code, "2024-01-01", text])
        out.writerow(["num", "2024-01-01", "12345 678"])
    assert main(["import", str(path), "--dataset", "d", "--db", str(db_path)]) == 0
    found = {i: json.loads(r["properties"])["language"] for i, r in imported(db_path).items()}
    assert found == {**{code: code for code in LANGUAGES}, "num": None}  # digits have no language
    assert language_of("") is None


# ---- managing sources, and the filter ----------------------------------------------------
def test_sources_list_rename_delete_and_datasets_sharing_them(tmp_path: Path, db_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(generate(40, seed=5))
    write_csv(tmp_path / "a.csv", iter(rows[:25]), with_labels=False)
    write_csv(tmp_path / "b.csv", iter(rows[25:]), with_labels=False)
    db = ["--db", str(db_path)]
    assert main(["import", str(tmp_path / "a.csv"), "--dataset", "one", "--source", "mail", *db]) == 0
    assert main(["import", str(tmp_path / "b.csv"), "--dataset", "two", "--source", "chat", *db]) == 0
    assert main(["datasets", "create", "both", "--sources", "mail", *db]) == 0
    assert main(["datasets", "add-source", "both", "chat", *db]) == 0
    capsys.readouterr()
    assert main(["sources", *db]) == 0
    listing = capsys.readouterr().out
    assert "mail                        25" in listing and "both, one" in listing and "both, two" in listing
    store = Store(db_path)
    assert store.dataset_info("both").messages == 40
    assert main(["sources", "rename", "chat", "calls", *db]) == 0
    assert store.dataset_info("two").sources == ("calls",)
    assert main(["sources", "delete", "calls", "--yes", *db]) == 2  # datasets use it
    assert "--force" in capsys.readouterr().err and store.dataset_info("both").messages == 40
    assert main(["sources", "delete", "calls", "--yes", "--force", *db]) == 0
    assert store.dataset_info("both").messages == 25 and store.dataset_info("two").messages == 0
    assert main(["datasets", "add-source", "both", "nope", *db]) == 2


def test_the_filter_narrows_every_mode_to_a_source_or_language(tmp_path: Path, db_path: Path) -> None:
    rows = list(generate(60, seed=5))
    write_csv(tmp_path / "a.csv", iter(rows[:40]), with_labels=False)
    path = tmp_path / "de.csv"
    path.write_text("id,timestamp,body\n" + "".join(f'de{n},2024-02-01,"Guten Tag, ich möchte meinen Vertrag '
                                                    f'kündigen, Nummer {n}."\n' for n in range(30)))
    db = ["--db", str(db_path)]
    assert main(["import", str(tmp_path / "a.csv"), "--dataset", "d", "--source", "mail", *db]) == 0
    assert main(["import", str(path), "--dataset", "d", "--source", "german", *db]) == 0
    session = Session.open(Store(db_path), "d", "ann")
    counts = session.scope_counts()
    assert counts["source"] == [("mail", 40), ("german", 30)] and ("de", 30) in counts["language"]
    ids = dict(zip(session.mids.tolist(), session.ids, strict=True))
    assert session.set_scope("german") == 30
    assert {ids[m][:2] for m in session.page("shuffle")} == {"de"}
    assert {ids[m][:2] for m in session.page("recent")} == {"de"}
    assert session.ranked("search", "Vertrag") and session.set_scope(None, "en") == 40
    assert session.ranked("search", "Vertrag") == []  # search too stays inside the filter
    assert all(ids[m].startswith("HM") for m in session.page("shuffle"))
    session.set_scope()
    assert len(session.page("shuffle", number=1)) == 20
    session.set_scope("german")  # the filter is kept with the page, for the next start
    session.page("shuffle")
    again = Session.open(Store(db_path), "d", "ann")
    resumed = again.resume()
    assert resumed is not None and resumed.scope == ("german", None, None) and again.scope == ("german", None, None)
    assert {again.ids[again.row_of[m]][:2] for m in again.page("shuffle", number=1)} == {"de"}
