"""The directory as CSV: accounts a row per profile, users with their account ids; both turn
into the ``directory import`` document and back."""

from __future__ import annotations

import pytest

from oidc_provider.directory.csv_format import DirectoryCsvError, accounts_csv, document_from_csv, users_csv

DOCUMENT = {
    "accounts": [
        {
            "id": "acct-hvac",
            "name": "MTech, HVAC",
            "eligible": True,
            "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": 'South "B"'}],
        },
        {"id": "acct-closed", "name": "Closed", "eligible": False, "profiles": []},
    ],
    "users": [
        {
            "email": "owner@mtech.example",
            "name": "Owner",
            "password_hash": "$argon2id$v=19$x",
            "accounts": ["acct-hvac"],
        },
        {"email": "nobody@mtech.example", "accounts": []},
    ],
}


def test_accounts_a_row_per_profile():
    assert accounts_csv(DOCUMENT) == (
        "account_id,account_name,eligible,profile_id,profile_name\r\n"
        'acct-hvac,"MTech, HVAC",true,p-north,North\r\n'
        'acct-hvac,"MTech, HVAC",true,p-south,"South ""B"""\r\n'
        "acct-closed,Closed,false,,\r\n"
    )


def test_users_with_their_hashes_and_accounts():
    assert users_csv(DOCUMENT) == (
        "email,name,password_hash,accounts\r\n"
        "owner@mtech.example,Owner,$argon2id$v=19$x,acct-hvac\r\n"
        "nobody@mtech.example,,,\r\n"
    )


def test_both_turn_back_into_the_document():
    assert document_from_csv(accounts_csv(DOCUMENT)) == {"accounts": DOCUMENT["accounts"]}
    assert document_from_csv(users_csv(DOCUMENT)) == {"users": DOCUMENT["users"]}


def test_a_spreadsheets_byte_order_mark_blank_lines_and_header_case_are_fine():
    text = "\ufeffAccount_ID,Account_Name,Eligible,Profile_ID,Profile_Name\n\nacct-1,One,YES,,\n"
    assert document_from_csv(text) == {"accounts": [{"id": "acct-1", "name": "One", "eligible": True, "profiles": []}]}


def test_users_may_carry_passwords_and_comma_separated_accounts():
    text = 'email,name,password,accounts\nnew@mtech.example,New,a long password,"acct-1, acct-2"\n'
    assert document_from_csv(text) == {
        "users": [
            {
                "email": "new@mtech.example",
                "name": "New",
                "password": "a long password",
                "accounts": ["acct-1", "acct-2"],
            }
        ]
    }


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "",
            [
                "line 1: the header must be account_id,account_name,eligible,profile_id,profile_name (accounts) or "
                "email,name,password_hash,accounts (users; 'password' may replace 'password_hash')"
            ],
        ),
        (
            "account_id,account_name,eligible,profile_id,profile_name\nacct-1,One,perhaps,,\nacct-2,Two\n",
            ["line 2: eligible must be true or false, not 'perhaps'", "line 3: expected 5 columns, found 2"],
        ),
        (
            "account_id,account_name,eligible,profile_id,profile_name\nacct-1,One,true,p-1,A\nacct-1,Uno,true,p-2,B\n",
            ["line 3: account 'acct-1' has another name or eligibility on an earlier line"],
        ),
        ("email,name,password_hash,accounts\na@b.example,A\n", ["line 2: expected 4 columns, found 2"]),
    ],
)
def test_a_bad_file_names_every_problem_by_line(text, problems):
    with pytest.raises(DirectoryCsvError) as refused:
        document_from_csv(text)
    assert list(map(str, refused.value.problems)) == problems
