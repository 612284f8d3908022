"""A custodian hands in a share from the page (with typing mistakes pointed out), the
release is published, and its page offers files that verify; the notice checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from shamir_mnemonic.wordlist import WORDLIST

from afterword.crypto.bundle import make_teaser
from afterword.crypto.release import verify_release_folder
from afterword.crypto.shares import normalize_mnemonic
from tests.browser.conftest import Site, shot

FILES = ("key", "dossier.age", "manifest.json", "notice.json", "statement.json")


def submit(page: Page, site: Site, words: str) -> None:
    page.goto(f"{site.url}/s/{site.switch}")
    page.get_by_label("The words on your share card").fill(words)
    page.get_by_role("button", name="Submit my share").click()


def test_custodian_page_before_a_release_asks_for_nothing(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/s/{site.switch}")
    expect(page.locator("#state")).to_contain_text("No shares are needed now.")
    expect(page.get_by_role("button", name="Submit my share")).to_have_count(0)


def test_custodian_mistakes_are_pointed_out_then_the_share_releases(
    page: Page, site: Site, tmp_path: Path
) -> None:
    site.to_releasing()  # the server's own share is in: one of two
    carol = site.bundle.mnemonics["carol"].split()
    page.goto(f"{site.url}/s/{site.switch}")
    expect(page.locator("#state")).to_contain_text("your share is needed now")
    expect(page.locator("#state")).to_contain_text("1 of the 2 needed shares are in")

    # a word that is not on the list: named, with the word it probably was
    typo = [*carol]
    typo[4] = typo[4][:-1] + ("x" if typo[4][-1] != "x" else "y")
    submit(page, site, " ".join(typo).upper())
    problems = page.locator("#problems")
    expect(problems).to_contain_text(f"Word 5, “{typo[4].lower()}”, is not a word")
    expect(problems).to_contain_text(f"“{carol[4]}”")
    expect(page.get_by_label("The words on your share card")).to_have_value(" ".join(typo).upper())

    # a real word in the wrong place: the checksum finds which one and what it should be
    swapped = [*carol]
    swapped[11] = next(w for w in WORDLIST if w != carol[11])
    submit(page, site, " ".join(swapped))
    expect(problems).to_contain_text(f"Word 12, “{swapped[11]}”, is probably wrong")
    expect(problems).to_contain_text(f"should be “{carol[11]}”")
    shot(page, "custodian-mistyped")

    # words missing: how many (30 words is a length SLIP-39 allows for another secret
    # size, which no share card has: counted, not sent to the checksum)
    submit(page, site, " ".join(carol[:-1]))
    expect(problems).to_contain_text("You entered 32 words: 1 word is missing;")
    submit(page, site, " ".join(carol[:30]))
    expect(problems.locator("li")).to_have_text(
        "You entered 30 words: 3 words are missing; a share has 20 or 33 words, afterword's 33."
    )
    expect(problems.locator("strong")).to_have_text("The number of words is wrong.")

    # a valid share of another switch
    submit(page, site, site.bundles.other.mnemonics["carol"])
    expect(problems).to_contain_text("not one of this switch's shares")
    assert site.engine.status(site.switch)["state"] == "releasing"

    # the right words, as a card shows them (line breaks, capitals)
    card = "\n".join(" ".join(carol[i : i + 4]).capitalize() for i in range(0, len(carol), 4))
    submit(page, site, card)
    expect(page.locator("#accepted")).to_contain_text("your share was accepted")
    expect(page.locator("#state")).to_contain_text("The dossier has been released.")
    assert site.engine.status(site.switch)["state"] == "released"
    shot(page, "custodian-accepted")

    # the release page offers the five files; downloaded, they verify and open
    page.goto(f"{site.url}/r/{site.switch}")
    expect(page.locator("h1")).to_contain_text(f"Released: dossier {site.switch}")
    expect(page.locator("main")).to_contain_text(
        "Custodians who released their shares: carol, server"
    )
    expect(page.locator("main")).to_contain_text("age -d -i key dossier.age | tar x")
    shot(page, "release")
    folder = tmp_path / "release"
    folder.mkdir()
    for name in FILES:
        link = page.get_by_role("link", name=name, exact=True)
        with page.expect_download() as download:
            link.click()
        download.value.save_as(folder / name)
    said = verify_release_folder(
        folder, server_key=site.engine.keys.public_key, open_to=tmp_path / "opened"
    )
    assert said[-1].startswith("Opened 5 document(s)")
    assert normalize_mnemonic(" ".join(carol)) == " ".join(carol)


def test_release_page_of_an_unreleased_switch_says_so(page: Page, site: Site) -> None:
    response = page.goto(f"{site.url}/r/{site.switch}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"Switch {site.switch} has not been released")


@pytest.fixture
def teaser(site: Site, tmp_path: Path) -> Path:
    source = site.bundle.path.parent / "src" / "evidence" / "ledger.csv"
    path = tmp_path / "ledger-teaser.json"
    path.write_text(json.dumps(make_teaser(site.bundle.path, source, site.bundles.owner)))
    return path


def test_notice_checker_verifies_notices_and_teasers_and_names_forgeries(
    page: Page, site: Site, teaser: Path, tmp_path: Path
) -> None:
    notice = site.bundle.path / "notice.json"
    page.goto(f"{site.url}/verify")
    page.get_by_label("File to check").set_input_files(str(notice))
    page.get_by_role("button", name="Check", exact=True).click()
    result = page.locator("#result")
    expect(result).to_contain_text("Verified. notice.json is a genuine afterword notice.")
    expect(result).to_contain_text("any 2 can open the dossier")

    page.get_by_label("File to check").set_input_files(str(teaser))
    page.get_by_label("The notice you were shown (optional)").set_input_files(str(notice))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("genuine afterword teaser")
    expect(result).to_contain_text("That root is the one the notice announced")
    shot(page, "verify")

    # a teaser checked against another dossier's notice
    page.get_by_label("File to check").set_input_files(str(teaser))
    other = site.bundles.other.path / "notice.json"
    page.get_by_label("The notice you were shown (optional)").set_input_files(str(other))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("Does not verify.")
    expect(result).to_contain_text("does not belong to that notice")

    # a notice whose conditions were changed after signing
    forged = json.loads(notice.read_text())
    forged["conditions"] = "Never publish anything."
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    page.get_by_label("File to check").set_input_files(str(tmp_path / "forged.json"))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("Does not verify. forged.json")

    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not json")
    page.get_by_label("File to check").set_input_files(str(tmp_path / "photo.jpg"))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("is not an afterword file (it is not JSON)")
