"""A generated demo mailbox for Harbour Mutual, a made-up insurer.

``python -m cmtui.sample`` rewrites ``sample_data/mailbox.csv`` (seed 7, 2,400 messages).
The generator is also what ``cmtui bench`` uses for its synthetic mailboxes: profile
``email`` is the demo, ``short`` gives chat-like ~500-character messages, and ``long``
gives ~3,500-character emails with quoted replies and signatures.

Wording is varied on purpose: every label has several phrasings, labels share words
("claim", "policy", "payment"), and filler sentences mention other topics, so no single
keyword identifies a label.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

SEED = 7
SAMPLE_SIZE = 2400
REPO_SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "mailbox.csv"

# leaf label -> (subjects, sentences); parents are implied by the ` > ` levels
TAXONOMY: dict[str, tuple[list[str], list[str]]] = {
    "Claims > New claim > Motor": (
        ["Car accident this morning", "Need to make a claim - my car", "Collision on {road}",
         "Vehicle damage claim", "Someone hit my {car}"],
        ["I was involved in a collision on {road} and my {car} has damage to the rear bumper.",
         "Another driver reversed into my parked {car} outside the supermarket.",
         "My windscreen cracked after a stone hit it on the motorway, how do I claim for it?",
         "The other party has admitted fault and I have their insurance details.",
         "The garage says the repair to the wing and door will be around {amount}.",
         "I would like to report an accident, nobody was hurt but the car cannot be driven.",
         "The police attended and gave me a reference number for the crash."]),
    "Claims > New claim > Home": (
        ["Water leak in the kitchen", "Burglary at my house", "Storm damage to roof",
         "Home insurance claim", "Flooded bathroom"],
        ["A pipe burst under the sink and water has ruined the kitchen floor.",
         "We came home to find the back door forced and a laptop and jewellery missing.",
         "Several tiles blew off the roof in last night's storm and rain is coming in.",
         "The ceiling below the bathroom has a large stain and is starting to sag.",
         "A contractor quoted {amount} to replace the damaged carpets and skirting.",
         "I need to claim on my buildings cover for subsidence cracks in the wall.",
         "Our fence and shed were flattened by a fallen tree."]),
    "Claims > New claim > Travel": (
        ["Lost luggage on holiday", "Cancelled trip - claim", "Medical costs abroad",
         "Travel insurance claim", "Flight cancelled"],
        ["The airline lost my suitcase on the flight back from {place}.",
         "I had to cancel our holiday to {place} because my mother was taken into hospital.",
         "I saw a doctor while abroad and paid {amount} for the treatment.",
         "Our connecting flight was cancelled and we had to pay for a hotel overnight.",
         "My passport and wallet were stolen at the station in {place}.",
         "The tour operator went bust a week before we were due to travel."]),
    "Claims > Claim status": (
        ["Update on my claim?", "Claim {claim} - any news", "Still waiting on claim",
         "Where is my claim up to", "Claim progress"],
        ["Could you tell me where my claim {claim} is up to?",
         "I submitted a claim three weeks ago and have heard nothing since.",
         "Has the assessor been assigned yet for claim {claim}?",
         "Please let me know when I can expect a decision on my claim.",
         "The portal still says my claim is under review, is anything missing?",
         "When will the settlement payment reach my account?"]),
    "Claims > Documents submitted": (
        ["Photos for claim {claim}", "Documents attached", "Receipts for my claim",
         "Repair estimate attached", "Evidence for claim"],
        ["Please find attached the photos of the damage you asked for.",
         "I have attached the receipts and the repair estimate for claim {claim}.",
         "Here is the police report, I scanned it this morning.",
         "Attached are the invoices from the garage as requested.",
         "I am sending the medical report from the hospital in {place} with this email.",
         "The completed claim form is attached, signed and dated."]),
    "Policy > Renewal": (
        ["Renewal of policy {policy}", "My renewal", "Auto-renewal question",
         "Renewing my cover", "Renewal quote"],
        ["My policy {policy} is due for renewal next month, can you confirm the price?",
         "I received the renewal letter and want to check what is included.",
         "Please make sure my cover renews automatically, I do not want a gap.",
         "I would like to renew but drop the breakdown cover this year.",
         "Can I renew early and keep my no claims discount?"]),
    "Policy > Cancellation": (
        ["Cancel my policy", "Cancellation request", "Please cancel {policy}",
         "Ending my cover", "Stop my insurance"],
        ["I would like to cancel policy {policy} with effect from {date}.",
         "I have sold the car so I no longer need the motor policy.",
         "We are moving abroad and need to end our home insurance.",
         "I found cheaper cover elsewhere and want to cancel, is there a fee?",
         "Please confirm the cancellation in writing and any refund due."]),
    "Policy > Change of address": (
        ["Change of address", "I have moved house", "New address for policy {policy}",
         "Updating my details", "Moving home"],
        ["I moved house on {date}, my new address is {address}.",
         "Please update the address on my policy to {address}.",
         "We are relocating next week and need the cover moved to the new property.",
         "My correspondence address has changed, please send letters to {address}.",
         "Does moving to {address} change my premium?"]),
    "Policy > Add driver": (
        ["Add a named driver", "Adding my son to the policy", "Extra driver",
         "Named driver request", "Can my partner drive my car"],
        ["I would like to add my partner as a named driver on my car insurance.",
         "My son has passed his test and needs to be added to the policy.",
         "Can a friend drive my {car} for a week while I am away?",
         "Please add {name} as a driver, date of birth {date}.",
         "How much extra would it cost to add a young driver?"]),
    "Policy > Documents request": (
        ["Copy of my documents", "Certificate of insurance", "Policy schedule needed",
         "Proof of cover", "Need my policy wording"],
        ["Could you send me a copy of my certificate of insurance?",
         "I need proof of cover for my mortgage lender by Friday.",
         "Please email the policy schedule and the full wording for {policy}.",
         "The letting agent is asking for evidence of contents cover.",
         "I cannot find my documents in the online account, can you resend them?"]),
    "Billing > Payment failed": (
        ["Payment failed", "Missed payment", "My card was declined",
         "Problem with this month's payment", "Direct debit bounced"],
        ["I got a letter saying my monthly payment failed, what should I do?",
         "My card was declined when I tried to pay the premium online.",
         "The direct debit bounced because my account details changed.",
         "Is my cover still active after the missed payment on {date}?",
         "Please take the failed instalment again, there are funds now."]),
    "Billing > Refund request": (
        ["Refund please", "Overcharged", "Money back for cancelled policy",
         "Refund of premium", "Charged twice"],
        ["I was charged twice this month and would like one payment refunded.",
         "After cancelling I was told I would receive a refund of {amount}, it has not arrived.",
         "You took {amount} from my account in error, please return it.",
         "Please refund the unused part of my annual premium.",
         "The refund should go back to the card ending 4421."]),
    "Billing > Direct debit change": (
        ["Change payment date", "New bank details", "Update direct debit",
         "Switch to monthly payments", "Payment method change"],
        ["I would like to move my payment date to the 28th of each month.",
         "I have a new bank account, sort code and account number below.",
         "Can I switch from paying annually to monthly instalments?",
         "Please set up a direct debit instead of paying by card each month.",
         "My salary date changed so I need the collection date moved."]),
    "Billing > Premium increase query": (
        ["Why has my premium gone up", "Price increase", "Renewal price too high",
         "Premium query", "Explain the increase"],
        ["My premium has gone up by {amount} and I have not made any claims.",
         "Why is the renewal price so much higher than last year?",
         "Can you explain what caused the increase on policy {policy}?",
         "The quote online for new customers is cheaper than my renewal.",
         "I think the price rise is unfair given my clean record."]),
    "Complaint > Service": (
        ["Complaint", "Very unhappy with your service", "Formal complaint",
         "Rude call handler", "Poor customer service"],
        ["I want to make a formal complaint about how I was treated on the phone.",
         "Your call handler was rude and hung up on me.",
         "I have been passed between departments five times and nobody helps.",
         "This is the worst customer service I have experienced.",
         "I expect an apology and an explanation of what went wrong."]),
    "Complaint > Delay": (
        ["Unacceptable delay", "Still no response after weeks", "Why is this taking so long",
         "Delays - complaint", "Waiting far too long"],
        ["It has now been six weeks and I am still waiting, this delay is unacceptable.",
         "Nobody has replied to my last three emails.",
         "The repair has been delayed again and I have been without a car for a month.",
         "You promised a call back within 48 hours and nobody rang.",
         "I am complaining about the time it is taking to deal with this."]),
    "Quote > Motor": (
        ["Car insurance quote", "Quote for my new car", "How much to insure a {car}",
         "Motor quote request", "Price for car cover"],
        ["I am buying a {car} next week and would like a quote for comprehensive cover.",
         "How much would it cost to insure a {car} for a 30 year old driver?",
         "Can you give me a price for third party fire and theft?",
         "I currently insure elsewhere but would like to compare your motor price.",
         "Please quote for business use as I drive to client sites."]),
    "Quote > Home": (
        ["Home insurance quote", "Quote for buildings and contents", "New house - need cover",
         "Contents insurance price", "Landlord insurance quote"],
        ["We are completing on a house next month and need buildings cover from {date}.",
         "Could you quote for contents insurance for a two bedroom flat?",
         "I need landlord cover for a property I rent out at {address}.",
         "What would buildings and contents together cost for a terraced house?",
         "Does your home policy include accidental damage as standard?"]),
    "General enquiry": (
        ["Quick question", "Question about my cover", "Enquiry", "Opening hours?",
         "Information needed"],
        ["Are your phone lines open on Saturdays?",
         "Does my policy cover me if I work from home?",
         "What is the excess on my policy {policy}?",
         "Do you offer a discount for paying annually?",
         "Can I manage my policy through the app?"]),
    "Urgent": (
        ["URGENT", "Urgent - please respond today", "Time sensitive", "ASAP please"],
        ["This is urgent, please respond today.",
         "I need this sorted before the weekend, it is very urgent.",
         "Please treat this as a priority, I am stuck without it.",
         "I would appreciate an urgent reply as the deadline is tomorrow."]),
}
# how often each leaf is the main topic of a message
WEIGHTS: dict[str, float] = {
    "Claims > New claim > Motor": 9, "Claims > New claim > Home": 7, "Claims > New claim > Travel": 4,
    "Claims > Claim status": 9, "Claims > Documents submitted": 6, "Policy > Renewal": 6,
    "Policy > Cancellation": 5, "Policy > Change of address": 5, "Policy > Add driver": 3,
    "Policy > Documents request": 5, "Billing > Payment failed": 4, "Billing > Refund request": 4,
    "Billing > Direct debit change": 3, "Billing > Premium increase query": 4,
    "Complaint > Service": 3, "Complaint > Delay": 3, "Quote > Motor": 3, "Quote > Home": 2,
    "General enquiry": 4,
}
# labels that naturally come together in one message
COMPANIONS: dict[str, list[str]] = {
    "Claims > Claim status": ["Complaint > Delay", "Claims > Documents submitted"],
    "Claims > New claim > Motor": ["Claims > Documents submitted", "Urgent"],
    "Claims > New claim > Home": ["Claims > Documents submitted", "Urgent"],
    "Claims > New claim > Travel": ["Claims > Documents submitted"],
    "Policy > Cancellation": ["Billing > Refund request"],
    "Policy > Renewal": ["Billing > Premium increase query", "Policy > Documents request"],
    "Policy > Change of address": ["Billing > Direct debit change", "Policy > Documents request"],
    "Billing > Payment failed": ["Billing > Direct debit change", "Urgent"],
    "Complaint > Service": ["Complaint > Delay", "Claims > Claim status"],
    "Quote > Motor": ["Policy > Add driver"],
    "Policy > Add driver": ["Urgent"],
}
GREETINGS = ["Hello,", "Hi,", "Dear Sir or Madam,", "Good morning,", "Hi there,", "Dear team,", ""]
CLOSINGS = ["Thanks", "Kind regards", "Many thanks", "Regards", "Best wishes", "Cheers", "Thank you"]
FILLER = [
    "I have been a customer for {years} years.", "My policy number is {policy}.",
    "You can reach me on {phone} during the day.", "Sorry for the long email.",
    "I tried the website first but could not find the answer.",
    "I am writing on behalf of my elderly father.", "Hope you are well.",
    "I did call earlier but the queue was very long.", "Thanks in advance for your help.",
    "I mentioned my claim to a friend and they suggested I email you.",
    "My payment went through fine last month.", "The policy has been great so far.",
    "I am not sure if this is the right department.", "Let me know if you need anything else.",
]
NOISE_MESSAGES = [
    ("Out of office", "I am out of the office until {date} with limited access to email."),
    ("Newsletter: winter driving tips", "Ten tips to keep your car safe this winter. Check tyres, "
     "lights and screen wash before every long journey."),
    ("Re: thanks", "Thanks, that is all sorted now."),
    ("Automatic reply", "Your message has been received. This mailbox is not monitored."),
]
FIRST = ["Alice", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Isla", "Jack",
         "Kiran", "Laura", "Mohammed", "Nina", "Oliver", "Priya", "Quentin", "Rosa", "Sam", "Tomas"]
LAST = ["Smith", "Jones", "Patel", "Brown", "Wilson", "Khan", "Taylor", "Davies", "Evans",
        "Murphy", "Nowak", "Okafor", "Rossi", "Schmidt", "Walsh"]
CARS = ["Ford Fiesta", "VW Golf", "Toyota Yaris", "Nissan Qashqai", "Kia Sportage", "BMW 3 Series",
        "Vauxhall Corsa", "Tesla Model 3"]
PLACES = ["Lisbon", "Malaga", "Crete", "New York", "Prague", "Dubrovnik", "Bangkok", "Reykjavik"]
ROADS = ["the A34", "the M6", "Station Road", "the ring road", "Church Street", "the high street"]
STREETS = ["Elm Grove", "Mill Lane", "Park Avenue", "Victoria Road", "Kings Close", "Orchard Way"]
TOWNS = ["Leeds", "Bristol", "Norwich", "Cardiff", "York", "Exeter", "Dundee"]
SIGNATURE = ("--\n{name}\n{phone}\nSent from my phone. This email and any attachments are "
             "confidential and intended solely for the addressee. If you have received it in "
             "error please notify the sender and delete it. Please consider the environment "
             "before printing this email.")


# the gold field of each placeholder (a date by what the sentence says it is)
GOLD_FIELDS = {"policy": "policy number", "claim": "claim number", "amount": "amount", "phone": "phone number"}
DATE_FIELDS = (("with effect from {date}", "cancellation date"), ("moved house on {date}", "move date"),
               ("date of birth {date}", "date of birth"), ("missed payment on {date}", "missed payment date"),
               ("cover from {date}", "cover start date"), ("until {date}", "return date"))


class _Filler:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: list[tuple[str, str]] = []  # (gold field, value as written) of every fill since the last take

    def take(self) -> list[tuple[str, str]]:
        used, self.used = self.used, []
        return used

    def fill(self, template: str, name: str) -> str:
        values = self._values(name)  # every value is drawn each time: the texts stay as they were
        for _, key, _, _ in string.Formatter().parse(template):
            if key in GOLD_FIELDS:
                self.used.append((GOLD_FIELDS[key], str(values[key])))
            elif key == "date":
                self.used.append((next((f for t, f in DATE_FIELDS if t in template), "date"), str(values[key])))
        return template.format(**values)

    def _values(self, name: str) -> dict[str, object]:
        r = self.rng
        return dict(
            road=r.choice(ROADS), car=r.choice(CARS), place=r.choice(PLACES),
            amount=f"£{r.randint(80, 9000):,}", claim=f"CL-{r.randint(100000, 999999)}",
            policy=f"HM-{r.randint(1000000, 9999999)}",
            date=f"{r.randint(1, 28)} {r.choice(['March', 'April', 'May', 'June', 'July'])}",
            address=f"{r.randint(1, 120)} {r.choice(STREETS)}, {r.choice(TOWNS)}",
            name=name, years=r.randint(2, 25), phone=f"07{r.randint(100000000, 999999999)}")


def gold_fields(subject: str, body: str, used: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Where each filled value is in subject + newline + body (the positions fields are
    found at), in the order they were filled: a value written twice is found twice."""
    text = f"{subject}\n{body}"
    found: list[dict[str, object]] = []
    taken: set[int] = set()
    for field, value in used:
        start = text.find(value)
        while start in taken:
            start = text.find(value, start + 1)
        if start >= 0:
            taken.add(start)
            found.append({"field": field, "start": start, "end": start + len(value), "text": value})
    return sorted(found, key=lambda f: (int(f["start"]), str(f["field"])))  # type: ignore[call-overload]


def _pick_labels(rng: random.Random, leaves: list[str], weights: list[float]) -> list[str]:
    main = rng.choices(leaves, weights)[0]
    labels = [main]
    extra = rng.random()
    companions = COMPANIONS.get(main, [])
    if companions and extra < 0.30:
        labels.append(rng.choice(companions))
        if extra < 0.06:
            third = rng.choice(leaves)
            if third not in labels:
                labels.append(third)
    if "Urgent" not in labels and rng.random() < 0.04:
        labels.append("Urgent")
    return labels


def generate(n: int, seed: int = SEED, profile: str = "email",
             start: datetime = datetime(2024, 1, 8, 8, 0)) -> Iterator[dict[str, str]]:
    """Yield ``n`` messages (dicts of CSV columns) with gold ``labels``."""
    rng = random.Random(seed)
    filler = _Filler(rng)
    leaves = [leaf for leaf in WEIGHTS]
    weights = [WEIGHTS[leaf] for leaf in leaves]
    span = 200 * 24 * 3600  # messages spread over about six and a half months
    threads: list[tuple[str, str, str]] = []
    for index in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first} {last}"
        sender = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(['mail.com', 'example.org', 'post.net'])}"
        when = start + timedelta(seconds=int(span * index / max(n, 1)) + rng.randint(0, 3600))
        thread = ""
        reply_to = threads[rng.randrange(len(threads))] if threads and rng.random() < 0.08 else None
        filler.take()
        if reply_to is None and rng.random() < 0.03:
            subject, body = rng.choice(NOISE_MESSAGES)
            labels: list[str] = []
            text = filler.fill(body, name)
        else:
            labels = _pick_labels(rng, leaves, weights)
            if reply_to is not None:  # a follow-up stays on its thread's topic
                thread, subject0, topic = reply_to
                labels = [topic, *[lab for lab in labels[1:] if lab != topic]]
                subject = "Re: " + subject0
            else:
                subject = filler.fill(rng.choice(TAXONOMY[labels[0]][0]), name)
            text = _body(rng, filler, labels, name, profile)
            if reply_to is None and rng.random() < 0.3:
                thread = f"T{index:07d}"
                threads.append((thread, subject, labels[0]))
                if len(threads) > 50:
                    threads.pop(0)
        row: dict[str, object] = {
            "id": f"HM{index:07d}",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": subject if profile != "short" or rng.random() < 0.5 else "",
            "from": sender,
            "to": rng.choice(["claims@harbourmutual.example", "service@harbourmutual.example",
                              "billing@harbourmutual.example"]),
            "thread_id": thread,
            **_properties(random.Random(seed * 1_000_003 + index), labels, profile,
                          rng.choice(["email", "email", "email", "web form"]) if profile != "short" else "chat",
                          rng.randint(0, 25)),
            "body": text,
            "labels": ";".join(labels),
        }
        row["gold_fields"] = gold_fields(str(row["subject"]), text, filler.take())
        yield row  # type: ignore[misc]


def _properties(rng: random.Random, labels: list[str], profile: str, channel: str, years: int) -> dict[str, str]:
    """User properties that carry signal for some labels, as real mail does: new claims and
    quotes come through the web form more often than other mail, people asking for a quote
    are rarely customers yet (no policy years), and documents come as attachments.

    ``channel`` and ``years`` are drawn from the message stream for every message (so the
    texts stay those of earlier versions); ``rng`` is this message's own."""
    main = labels[0] if labels else ""
    if profile != "short" and main.startswith(("Claims > New claim", "Quote")) and rng.random() < 0.6:
        channel = "web form"
    if main.startswith("Quote") and rng.random() < 0.85:
        years = 0
    elif years == 0:
        years = rng.randint(1, 25)
    attachments = rng.randint(1, 4) if "Claims > Documents submitted" in labels else int(rng.random() < 0.08)
    return {"channel": channel, "policy_years": str(years), "attachments": str(attachments)}


def _body(rng: random.Random, filler: _Filler, labels: list[str], name: str, profile: str) -> str:
    sentences: list[str] = []
    for position, label in enumerate(labels):
        pool = TAXONOMY[label][1]
        count = rng.randint(2, 4) if position == 0 else rng.randint(1, 2)
        if profile == "short":
            count = rng.randint(1, 3) if position else rng.randint(4, 5)
        sentences += [filler.fill(s, name) for s in rng.sample(pool, min(count, len(pool)))]
    fill_count = {"short": rng.randint(2, 4), "email": rng.randint(0, 5), "long": rng.randint(5, 10)}[profile]
    sentences += [filler.fill(s, name) for s in rng.sample(FILLER, fill_count)]
    rng.shuffle(sentences)
    if profile == "short":
        return " ".join(sentences)
    greeting = rng.choice(GREETINGS)
    body = (greeting + "\n\n" if greeting else "") + " ".join(sentences) + f"\n\n{rng.choice(CLOSINGS)},\n{name}"
    if profile == "long":
        quoted = []
        for _ in range(rng.randint(6, 10)):  # earlier messages in the thread, quoted
            older = _body(rng, filler, [rng.choice(list(WEIGHTS))], name, "email")
            quoted.append("\n".join("> " + line for line in older.splitlines()))
        body += "\n" + filler.fill(SIGNATURE, name)
        body += "\n\nOn " + rng.choice(["Mon", "Tue", "Wed", "Thu"]) + ", Harbour Mutual wrote:\n" + "\n\n".join(quoted)
    return body


COLUMNS = ["id", "timestamp", "subject", "from", "to", "thread_id", "channel", "policy_years", "attachments",
           "body", "labels"]


def write_csv(path: Path, rows: Iterator[dict[str, str]], *, with_labels: bool = True) -> int:
    columns = COLUMNS if with_labels else COLUMNS[:-1]
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, quoting=csv.QUOTE_ALL, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_mbox(path: Path, rows: Iterator[dict[str, str]]) -> int:
    """The messages as an mbox, as a mail server would keep them: replies carry
    ``In-Reply-To``/``References`` to their thread's first message, a quarter of the
    subjects are RFC 2047 encoded words, most mail is ``multipart/alternative`` (plain text
    with an HTML copy), every tenth is HTML only, bodies are quoted-printable or base64,
    dates are in a UTC offset of +01:00 for half the mail, and the ``attachments`` property
    becomes that many attached files. Message-IDs are the CSV ids, so the two can be
    compared (``tests/test_sources.py``)."""
    import email.policy
    import html
    import mailbox
    from email.header import Header
    from email.message import EmailMessage
    from email.utils import format_datetime

    roots: dict[str, str] = {}  # the CSV's thread_id -> the id of its first message
    count = 0
    box = mailbox.mbox(path, create=True)
    box.lock()
    try:
        for index, row in enumerate(rows):
            message = EmailMessage(policy=email.policy.SMTP)
            when = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if index % 2:
                when = when.astimezone(timezone(timedelta(hours=1)))
            message["Message-ID"] = f"<{row['id']}>"
            message["Date"] = format_datetime(when)
            message["From"] = row["from"]
            message["To"] = row["to"]
            if row["subject"]:
                message["Subject"] = (Header(row["subject"], "utf-8").encode() if index % 4 == 0
                                      else row["subject"])
            thread = row.get("thread_id", "")
            if thread and thread in roots:
                message["In-Reply-To"] = f"<{roots[thread]}>"
                message["References"] = f"<{roots[thread]}>"
            elif thread:
                roots[thread] = row["id"]
            cte = "base64" if index % 3 == 0 else "quoted-printable"
            paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in row["body"].split("\n\n"))
            page = f"<html><body>{paragraphs}</body></html>"
            if index % 10 == 9:
                message.set_content(page, subtype="html", cte=cte)
            else:
                message.set_content(row["body"], cte=cte)
                message.add_alternative(page, subtype="html", cte=cte)
            for number in range(int(row.get("attachments") or 0)):
                message.add_attachment(b"%PDF-1.4 sample" * 8, maintype="application", subtype="pdf",
                                       filename=f"document-{number + 1}.pdf")
            stamp = when.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
            box.add(f"From MAILER-DAEMON {stamp}\n".encode() + message.as_bytes())
            count += 1
        box.flush()
    finally:
        box.unlock()
        box.close()
    return count


def sample_path() -> Path:
    """The bundled sample mailbox; regenerated into the data dir if the repo copy is absent."""
    if REPO_SAMPLE.exists():
        return REPO_SAMPLE
    from .config import data_dir

    path = data_dir() / "sample_mailbox.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(path, generate(SAMPLE_SIZE, SEED))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO_SAMPLE)
    parser.add_argument("-n", type=int, default=SAMPLE_SIZE)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", choices=["email", "short", "long"], default="email")
    parser.add_argument("--mbox", action="store_true", help="write an mbox (mail as a server keeps it)")
    parser.add_argument("--fields-gold", type=Path, default=None, metavar="FILE.jsonl",
                        help="also the gold general fields of every message (cmtui simulate --fields)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write = write_mbox if args.mbox else write_csv
    rows = list(generate(args.n, args.seed, args.profile))
    count = write(args.out, iter(rows))
    if args.fields_gold is not None:
        with args.fields_gold.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"id": row["id"], "fields": row["gold_fields"]}) + "\n")
    print(f"wrote {count} messages to {args.out}")


if __name__ == "__main__":
    main()
