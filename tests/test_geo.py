"""The offline gazetteer: South African places by any common spelling."""

import pytest

from avenrae import geo


@pytest.mark.parametrize(
    ("query", "name", "province"),
    [
        ("Durban, South Africa", "Durban", "KwaZulu-Natal"),
        ("durban", "Durban", "KwaZulu-Natal"),
        ("  DURBAN  ", "Durban", "KwaZulu-Natal"),
        ("eThekwini", "Durban", "KwaZulu-Natal"),
        ("Port Elizabeth", "Gqeberha", "Eastern Cape"),
        ("Joburg", "Johannesburg", "Gauteng"),
        ("Tshwane, RSA", "Pretoria", "Gauteng"),
        ("Kimberley", "Kimberley", "Northern Cape"),
        ("Bethlehem, FS", "Bethlehem", "Free State"),
        ("Paarl, Western Cape", "Paarl", "Western Cape"),
    ],
)
def test_geocode_finds_places_by_name_and_alternate_name(query, name, province):
    place = geo.geocode(query)
    assert (place.name, place.province) == (name, province)
    assert -35 < place.latitude < -22 and 16 < place.longitude < 33


def test_accents_do_not_matter():
    assert geo.normalise("Bénoni ") == geo.normalise("benoni") == "benoni"
    assert geo.geocode("Bénoni").name == "Benoni"


def test_unknown_place_is_refused_with_the_closest_suggestions():
    with pytest.raises(geo.PlaceNotFound) as refused:
        geo.geocode("Bloemfontien")
    assert "Bloemfontein, Free State" in refused.value.suggestions
    assert "Did you mean" in str(refused.value)


def test_nonsense_has_no_suggestions():
    with pytest.raises(geo.PlaceNotFound) as refused:
        geo.geocode("xyzzy qwerty")
    assert refused.value.suggestions == []


@pytest.mark.parametrize("query", ["", "   ", ", South Africa"])
def test_empty_queries_are_refused(query):
    with pytest.raises(geo.PlaceNotFound):
        geo.geocode(query)


def test_search_places_by_prefix_most_populous_first():
    names = [p.name for p in geo.search_places("Pieter")]
    assert names[0] == "Pietermaritzburg"
    assert all(n for n in names)


def test_gazetteer_is_south_african_only_and_populous_first():
    places = geo.places()
    assert len(places) > 500
    assert places[0].name == "Johannesburg"
    assert {p.province for p in places} == set(geo.PROVINCES.values())
