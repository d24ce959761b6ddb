"""Earnings: what a practitioner earned each month, from the payments ledger, and their payouts."""

import pandas as pd
import streamlit as st

from avenrae.models import Role
from avenrae.services import bookings, ledger
from avenrae.ui import feedback, payouts, pickers
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Earnings" if user.role != Role.PRACTITIONER else "My earnings")
feedback.show_flash()

practitioner_id, name = None, user.full_name
if user.role != Role.PRACTITIONER:
    chosen = pickers.person(Role.PRACTITIONER, key="earnings_for", label="practitioner")
    if chosen is None:
        st.stop()
    practitioner_id, name = chosen.practitioner_id, chosen.name
actor = bookings.Actor(user.id, user.role)

months = feedback.read(
    lambda session: ledger.earnings(session=session, role=user.role, user_id=user.id, practitioner_id=practitioner_id)
)

whose = "your" if user.role == Role.PRACTITIONER else "the practitioner's"
st.caption(
    f"From payments actually received and refunded, by the month the money moved, in {whose} time zone. "
    f"{'You earn your' if user.role == Role.PRACTITIONER else 'They earn their'} session rate; "
    "the platform fee clients pay on top is Avenrae's. A refund takes back the practitioner's share of it."
)
if not months:
    st.info("No payments in the last 12 months yet.")
    payouts.section(actor, practitioner_id, name)
    st.stop()

latest = months[0]
columns = st.columns(4)
columns[0].metric(f"Sessions paid, {fmt.month(latest.month)}", latest.sessions)
fmt.rand_metrics(
    columns[1:], [("Earned", latest.earned, None), ("Refunded", latest.refunds, None), ("Net", latest.net, None)]
)
st.dataframe(
    pd.DataFrame(
        {
            "Month": [fmt.month(m.month) for m in months],
            "Sessions paid": [m.sessions for m in months],
            "Earned": [fmt.rand(m.earned) for m in months],
            "Refunds": [fmt.rand(m.refunds) for m in months],
            "Net": [fmt.rand(m.net) for m in months],
        }
    ),
    hide_index=True,
    placeholder=fmt.MISSING,
    width="stretch",
)
fmt.rand_metric(st, "Net over these months", sum((m.net for m in months), start=fmt.money(0)))
payouts.section(actor, practitioner_id, name)
