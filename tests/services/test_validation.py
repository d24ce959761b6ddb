"""Shared field checks."""

import pytest

from avenrae.services import validation
from avenrae.services.validation import FieldError


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("082 123 4567", "+27821234567"),
        ("0821234567", "+27821234567"),
        ("(082) 123-4567", "+27821234567"),
        ("+27 82 123 4567", "+27821234567"),
        ("27821234567", "+27821234567"),
        ("+27 (0)82 123 4567", "+27821234567"),
        ("060 123 4567", "+27601234567"),
        ("071 123 4567", "+27711234567"),
        ("084 123 4567", "+27841234567"),
        ("", None),
    ],
)
def test_south_african_numbers_are_normalised(typed, normalised):
    assert validation.south_african_phone(typed) == normalised


@pytest.mark.parametrize(
    "typed", ["082 123 456", "082 123 45678", "+44 20 7946 0958", "0021234567", "082-ABC-4567", "12345"]
)
def test_other_numbers_are_refused(typed):
    with pytest.raises(FieldError):
        validation.south_african_phone(typed)


@pytest.mark.parametrize(
    ("typed", "prefix"),
    [("011 555 0100", "011"), ("021 555 0100", "021"), ("080 012 3456", "080"), ("086 012 3456", "086"),
     ("+27 87 012 3456", "087")],
)  # fmt: skip
def test_landlines_and_service_numbers_are_no_mobile_numbers(typed, prefix):
    """Found in a trial: "Mobile number" took a Johannesburg landline and a toll-free number, so a
    client could not be reached on the day (mobiles start 06, 07 and 081 to 084)."""
    with pytest.raises(FieldError) as refused:
        validation.south_african_phone(typed)
    assert str(refused.value) == (
        f"{prefix} is a landline or service number: enter a mobile number, for example 082 123 4567."
    )


def test_phone_can_be_required():
    with pytest.raises(FieldError, match="required"):
        validation.south_african_phone("  ", required=True)


def test_text_is_trimmed_and_kept_as_typed():
    assert validation.text("  <script>alert(1)</script>  ", label="Name", max_length=100) == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "required"),
        ("x" * 101, "the most is 100, so cut 1"),
        ("a\x00b", "cannot"),
        ("half \ud83d an emoji", "cannot be shown"),
    ],
)
def test_text_rules(value, message):
    with pytest.raises(FieldError, match=message):
        validation.text(value, label="Name", max_length=100)


def test_email_domain_is_lower_cased_and_junk_refused():
    assert validation.email(" Thandi@Example.CO.ZA ") == "Thandi@example.co.za"
    for bad in ["", "thandi", "thandi@", "@example.co.za", "thandi@@example.co.za"]:
        with pytest.raises(FieldError):
            validation.email(bad)


@pytest.mark.parametrize("typed", ["<b>Zulu</b>", "Zanele <script>", "Dlamini>"])
def test_names_refuse_markup_characters(typed):
    # Shown as typed everywhere (escaped), but no one's name has < or >: "<b>Zulu</b>" in every
    # list and notice is someone testing, not a name.
    with pytest.raises(validation.FieldError, match=r"Last name cannot contain < or >\."):
        validation.person_name(typed, label="Last name")


@pytest.mark.parametrize("typed", ["O'Brien-Nkosi", "Nomvula M.", "Ṭhandeka", "van der Merwe", "李"])
def test_names_as_people_write_them_are_kept(typed):
    assert validation.person_name(typed, label="Last name") == typed


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("+27821234567", "082 123 4567"), ("0837654321", "083 765 4321"), ("+44 20 7946 0958", "+44 20 7946 0958")],
)
def test_a_number_is_shown_as_south_africans_write_it(stored, shown):
    assert validation.local_phone(stored) == shown
