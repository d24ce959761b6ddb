"""Sign up as a client or a practitioner."""

import streamlit as st

from avenrae.models import Role
from avenrae.services import accounts
from avenrae.services.errors import InvalidInput
from avenrae.ui import auth, feedback, forms, location
from avenrae.ui import format as fmt
from avenrae.ui.page import carried_on, go_on, guard

guard(__file__)

_, middle, _ = st.columns([1, 3, 1])
with middle:
    st.title("Create your Avenrae account")
    role = st.radio(
        "I want to",
        [Role.CLIENT, Role.PRACTITIONER],
        horizontal=True,
        format_func=lambda r: "Book sessions" if r == Role.CLIENT else "Offer sessions as a practitioner",
    )
    pin = None
    if role == Role.PRACTITIONER:
        st.markdown("**Where you see clients** (optional): click the map to pin it exactly.")
        st.caption("Without a pin we place you by the suburb, township, town or postal code you type below.")
        pin = location.pin_picker(key="signup_pin")
    with st.form("signup"):
        # A row of columns each: on a phone columns stack, so fields still read in order.
        left, right = st.columns(2)
        first_name = left.text_input("First name", autocomplete="given-name")
        last_name = right.text_input("Last name", autocomplete="family-name")
        left, right = st.columns(2)
        email = left.text_input("Email", autocomplete="email")
        phone = right.text_input(
            "Mobile number" + ("" if role == Role.PRACTITIONER else " (optional)"),
            placeholder="082 123 4567",
            autocomplete="tel",
        )
        password = st.text_input(
            "Password",
            type="password",
            autocomplete="new-password",
            help=accounts.RULES_FOR_PASSWORDS,
        )
        practice, choosing = {}, False
        if role == Role.PRACTITIONER:
            st.subheader("Your practice")
            practice, choosing = forms.practitioner_fields(key="signup")
        submitted = st.form_submit_button("Create account", type="primary", width="stretch")
    if submitted:
        form = accounts.SignUp(
            role=role,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            **practice,
            pin=pin,
        )
    if submitted and choosing:  # the place to choose first, with anything else to put right
        location.ask_to_choose("Create account")
        found = feedback.read(
            lambda session: accounts.sign_up_problems(session=session, form=form, ip_address=auth.client_ip())
        )
        if found:
            feedback.show_error(InvalidInput(found))
    elif submitted:
        created = feedback.attempt(
            lambda session: accounts.sign_up(session=session, form=form, ip_address=auth.client_ip()), rerun=False
        )
        if created is not None:
            auth.log_in(email, password, remember=False)
            welcome = "Welcome to Avenrae! Your account is ready."
            if role == Role.PRACTITIONER:  # not bookable until verified: say so, and start where that begins
                where = fmt.md(created.practitioner.location_note)
                welcome += (
                    f" Clients find you at {where} once our staff have verified you: send your documents here,"
                    " then set your hours under Availability."
                )
            st.session_state[feedback.FLASH_KEY] = welcome
            # The page asked for before signing up, if any.
            go_on(auth.current_user(), otherwise="pages/verification.py" if role == Role.PRACTITIONER else None)
    st.page_link(
        "pages/login.py", label="Already have an account? Log in", icon=":material/login:", query_params=carried_on()
    )
