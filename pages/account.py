"""My account: password, own details; for clients where they live, for practitioners what clients see."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import accounts, flows, validation
from avenrae.services.errors import InvalidInput
from avenrae.ui import auth, feedback, forms, location
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)

st.title("My account")
st.caption(f"{fmt.md(user.email)} · {fmt.label(user.role.value)}")
feedback.show_flash()
if user.must_change_password:
    st.warning("Your password was set by an administrator. Choose your own password to continue.")


def change_password(session, old: str, new: str, repeated: str) -> None:
    if new != repeated:
        raise InvalidInput({"repeat": "The two new passwords are not the same."})
    accounts.change_password(session=session, user_id=user.id, old_password=old, new_password=new)


def password_form() -> None:
    with st.form("password", clear_on_submit=True):
        st.subheader("Change password")
        old = st.text_input("Current password", type="password", autocomplete="current-password")
        new = st.text_input(
            "New password",
            type="password",
            autocomplete="new-password",
            help=accounts.RULES_FOR_PASSWORDS,
        )
        repeated = st.text_input("New password again", type="password", autocomplete="new-password")
        if st.form_submit_button("Change password", type="primary"):
            changed = feedback.attempt(lambda s: change_password(s, old, new, repeated) or True, rerun=False)
            if changed:
                auth.renew_session(user.email, new)
                st.session_state[feedback.FLASH_KEY] = "Password changed. Other devices have been logged out."
                st.rerun()


if user.must_change_password:
    password_form()
    st.stop()

with st.form("details"):
    st.subheader("Your details")
    left, right = st.columns(2)  # a row each: on a phone columns stack, so fields still read in order
    first_name = left.text_input("First name", value=user.first_name)
    last_name = right.text_input("Last name", value=user.last_name)
    left, _ = st.columns(2)
    phone = left.text_input("Mobile number", value=validation.local_phone(user.phone or ""), placeholder="082 123 4567")
    if user.role == Role.PRACTITIONER:
        st.caption(
            "If you are verified, a new name goes back to staff to check; until they confirm it, clients see no badge."
        )
    if st.form_submit_button("Save details"):
        form = accounts.ProfileUpdate(first_name=first_name, last_name=last_name, phone=phone)
        renamed = (first_name.strip(), last_name.strip()) != (user.first_name, user.last_name)
        feedback.attempt(
            lambda s: flows.update_profile(session=s, user_id=user.id, form=form),
            success="Your details are saved."
            + (
                " If you were verified, your new name is with staff now; you will be notified of their decision."
                if renamed and user.role == Role.PRACTITIONER
                else ""
            ),
        )

if user.role == Role.CLIENT:
    with session_scope() as session:
        home = accounts.preferred_place(session=session, user_id=user.id)
    with st.form("home_place"):
        st.subheader("Where you live")
        typed = st.text_input(
            "Town, suburb, township or postal code",
            value=home or "",
            placeholder="e.g. Umlazi, Soweto, Jozi or 4066",
            help="Find practitioners opens here. Only you and our staff see it.",
        )
        place, choosing = location.which_place(typed, key="home_place", default=home)
        if st.form_submit_button("Save place"):
            if not typed.strip():
                feedback.show_error(InvalidInput({"place": "Type your town, suburb, township or postal code."}))
            elif choosing:
                location.ask_to_choose("Save place", field="Town, suburb, township or postal code")
            else:
                saved = feedback.attempt(
                    lambda s: accounts.set_home_place(session=s, user_id=user.id, place=place),
                    rerun=False,
                )
                if saved:
                    st.session_state[feedback.FLASH_KEY] = (
                        f"Your place is saved as {saved.said}: Find practitioners opens there."
                    )
                    st.rerun()

if user.role == Role.PRACTITIONER:
    with session_scope() as session:
        profile = accounts.get_practitioner_profile(session=session, user_id=user.id)
    st.subheader("Where you see clients")
    location.placed(profile.location_note)
    st.caption("Click the map to pin your place exactly; without a pin we place you by the town below.")
    pin = location.pin_picker(key="account_pin", current=profile.pin, centre=profile.location)
    with st.form("practice"):
        st.subheader("Your practice")
        st.caption(
            "This is what clients see when they search. Changing your town moves you on the map; if you are "
            "verified, a new specialization goes back to staff to check."
        )
        practice, choosing = forms.practitioner_fields(profile, key="account")
        saved = st.form_submit_button("Save practice")
        if saved and choosing:
            location.ask_to_choose("Save practice")
        elif saved:
            form = accounts.PractitionerProfileUpdate(**practice, pin=pin)
            new_practice = form.specialization != profile.specialization
            feedback.attempt(
                lambda s: flows.update_practice(session=s, user_id=user.id, form=form),
                success="Your practice details are saved."
                + (
                    " If you were verified, your new practice is with staff now; you will be notified of their "
                    "decision."
                    if new_practice
                    else ""
                ),
            )

password_form()
