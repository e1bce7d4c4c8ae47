"""Selectors must agree with apimachinery: cases below come from upstream selector tests
(``pkg/labels/selector_test.go``, ``pkg/fields/selector_test.go``) and from error text
that real kube-apiservers return."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sliceplane.api.errors import BadRequest
from sliceplane.api.fieldlabels import field_set, validate_field_selector
from sliceplane.api.fieldselectors import (
    FIELDS_EVERYTHING,
    FieldRequirement,
    FieldSelector,
    escape_field_value,
    parse_field_selector,
    unescape_field_value,
)
from sliceplane.api.labelparser import parse_label_selector
from sliceplane.api.selectors import (
    EVERYTHING,
    NOTHING,
    LabelSelector,
    Operator,
    Requirement,
    label_key_errors,
    label_selector_from_meta,
    label_value_errors,
    new_requirement,
    selector_from_set,
)

NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"


# --------------------------------------------------------------------------------------
# Label selector parsing
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("x=a,y=b,z=c", "x=a,y=b,z=c", id="equalities"),
        pytest.param("", "", id="empty"),
        pytest.param("x!=a,y=b", "x!=a,y=b", id="not-equals"),
        pytest.param("x=", "x=", id="empty-value"),
        pytest.param("x= ", "x=", id="empty-value-space"),
        pytest.param("x=,z= ", "x=,z=", id="two-empty-values"),
        pytest.param("x= ,z= ", "x=,z=", id="two-empty-values-spaces"),
        pytest.param("!x", "!x", id="does-not-exist"),
        pytest.param("x>1", "x>1", id="gt"),
        pytest.param("x>1,z<5", "x>1,z<5", id="gt-lt"),
        pytest.param("x==a", "x==a", id="double-equals-kept"),
        pytest.param("\rx", "x", id="carriage-return"),
        pytest.param(
            "this-is-a-dns.domain.com/key-with-dash",
            "this-is-a-dns.domain.com/key-with-dash",
            id="prefixed-exists",
        ),
        pytest.param(
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            id="prefixed-in",
        ),
        pytest.param(
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
            id="numeric-prefix-notin",
        ),
        pytest.param("foo  in\t (abc)", "foo in (abc)", id="tabs"),
        pytest.param("x notin\n (abc)", "x notin (abc)", id="newline"),
        pytest.param("x in (abc,)", "x in (,abc)", id="trailing-comma-is-empty-value"),
        pytest.param("x in ()", "x in ()", id="empty-set"),
        pytest.param("x notin ( )", "x notin ()", id="empty-set-space"),
        pytest.param("x notin (, a)", "x notin (,a)", id="leading-comma"),
        pytest.param(
            "x notin (abc,,def),bar,z in (),w",
            "bar,w,x notin (,abc,def),z in ()",
            id="sorted-by-key",
        ),
        pytest.param("x,y in (a)", "x,y in (a)", id="exists-then-in"),
        pytest.param("a ", "a", id="trailing-space"),
        pytest.param("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)", id="keywords-as-values"),
        pytest.param("notin=in", "notin=in", id="keywords-as-key-and-value"),
        pytest.param("x in (b,a,b)", "x in (a,b)", id="values-deduplicated-sorted"),
        pytest.param("x=a,a=x", "a=x,x=a", id="deterministic-order"),
        pytest.param("z!=a,z", "z!=a,z", id="same-key-twice"),
        pytest.param("a \0,b", "a", id="nul-ends-input"),
        pytest.param("a\0,b", "a,b", id="nul-after-identifier-is-swallowed"),
        pytest.param("a=\0b", "a=b", id="nul-after-operator-is-swallowed"),
    ],
)
def test_parse_label_selector_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "x=a||y=b",
            f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {VALUE_RULE}',
            id="or-is-not-syntax",
        ),
        pytest.param(
            "x==a==b", "found '==', expected: ',' or 'end of string'", id="double-operator"
        ),
        pytest.param("!x=a", "found '=', expected: ',' or 'end of string'", id="negated-value"),
        pytest.param(
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
            "operators, the value must be an integer",
            id="lt-not-integer",
        ),
        pytest.param("x,,y", "found ',', expected: identifier after ','", id="double-comma"),
        pytest.param(
            ",x,y", "found ',', expected: !, identifier, or 'end of string'", id="leading-comma"
        ),
        pytest.param(
            "x nott in (y)",
            f"unable to parse requirement: found 'nott', expected: {OPERATORS}",
            id="misspelled-operator",
        ),
        pytest.param(
            "component not in (kube-apiserver)",
            f"unable to parse requirement: found 'not', expected: {OPERATORS}",
            id="not-in-two-words",
        ),
        pytest.param("a in (xyz),", "found '', expected: identifier after ','", id="dangling"),
        pytest.param(
            "a in (xyz)b notin ()",
            "found 'b', expected: ',' or 'end of string'",
            id="missing-comma-between-requirements",
        ),
        pytest.param(
            "a in (xyz abc)",
            "unable to parse requirement: found 'abc', expected: ',' or ')'",
            id="missing-comma-in-set",
        ),
        pytest.param(
            "a notin(",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
            id="unterminated-set",
        ),
        pytest.param(
            "a (",
            f"unable to parse requirement: found '(', expected: {OPERATORS}",
            id="paren-without-operator",
        ),
        pytest.param(
            "(", "found '(', expected: !, identifier, or 'end of string'", id="bare-paren"
        ),
        pytest.param(
            "label0==label0, label0 in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
            id="operator-in-set",
        ),
        pytest.param(
            "test-label=====instance1",
            "unable to parse requirement: found '==', expected: identifier",
            id="five-equals",
        ),
        pytest.param(
            "app=(", "unable to parse requirement: found '(', expected: identifier", id="eq-paren"
        ),
        pytest.param(
            "x in (a,,)",
            "unable to parse requirement: found ')', expected: ',', or identifier",
            id="double-comma-before-close",
        ),
        pytest.param(
            "x in a", "unable to parse requirement: found 'a' expected: '('", id="in-without-set"
        ),
        pytest.param(
            "app: nginx",
            f'unable to parse requirement: <nil>: Invalid value: "app:": name part {NAME_RULE}',
            id="bad-key-has-nil-path",
        ),
        pytest.param(
            "a/b/c ?=? def",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key '
            f"{NAME_RULE} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')",
            id="two-slashes",
        ),
        pytest.param(
            "app.kubernetes_io/name=x",
            'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": '
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            id="bad-prefix",
        ),
        pytest.param(
            "x" * 64,
            f'unable to parse requirement: <nil>: Invalid value: "{"x" * 64}": '
            "name part must be no more than 63 bytes",
            id="key-too-long",
        ),
        pytest.param(
            "x>-1",
            f'unable to parse requirement: values[0][x]: Invalid value: "-1": {VALUE_RULE}',
            id="negative-number-is-not-a-label-value",
        ),
        pytest.param(
            "x>99999999999999999999",
            'unable to parse requirement: values[0]: Invalid value: "99999999999999999999": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="gt-overflows-int64",
        ),
        pytest.param(
            "x>a-",
            "unable to parse requirement: [values[0]: Invalid value: \"a-\": for 'Gt', 'Lt' "
            f'operators, the value must be an integer, values[0][x]: Invalid value: "a-": '
            f"{VALUE_RULE}]",
            id="two-errors-aggregated",
        ),
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_label_selector(text)
    assert info.value.message == message
    assert info.value.to_status()["code"] == 400
    assert info.value.to_status()["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        pytest.param("", {"x": "y"}, True, id="empty-matches-all"),
        pytest.param("x=y", {"x": "y"}, True, id="eq"),
        pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="two-eq"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="two-neq"),
        pytest.param("notin=in", {"notin": "in"}, True, id="keywords"),
        pytest.param("x", {"x": "z"}, True, id="exists"),
        pytest.param("!x", {"y": "z"}, True, id="not-exists"),
        pytest.param("x>1", {"x": "2"}, True, id="gt"),
        pytest.param("x<1", {"x": "0"}, True, id="lt"),
        pytest.param("x=z", {}, False, id="eq-missing"),
        pytest.param("x=y", {"x": "z"}, False, id="eq-other"),
        pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="one-of-two-eq"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "w"}, False, id="one-of-two-neq"),
        pytest.param("x", {"y": "z"}, False, id="exists-missing"),
        pytest.param("!x", {"x": "z"}, False, id="not-exists-present"),
        pytest.param("x>1", {"x": "0"}, False, id="gt-false"),
        pytest.param("x<1", {"x": "2"}, False, id="lt-false"),
        pytest.param("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False, id="3"),
        pytest.param("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True, id="in-notin"),
        pytest.param("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False, id="in-in"),
        pytest.param("x notin (),y", {"y": ""}, True, id="notin-missing-key"),
        pytest.param("!x,y", {"y": ""}, True, id="not-exists-and-exists"),
        pytest.param("x notin (),!y", {"y": ""}, False, id="not-exists-empty-value"),
        pytest.param("x in ()", {"y": "baz"}, False, id="in-empty-missing"),
        pytest.param("x in ()", {"x": ""}, True, id="in-empty-value"),
        pytest.param("x=", {"x": ""}, True, id="eq-empty-value"),
        pytest.param("x=", {}, False, id="eq-empty-needs-key"),
        pytest.param("x!=", {}, True, id="neq-empty-missing-key"),
        pytest.param("z>1", {"z": "v2"}, False, id="gt-non-integer-label"),
        pytest.param("z>1", {"z": "+2"}, True, id="gt-signed-label"),
        pytest.param("z<1", {}, False, id="lt-missing"),
        pytest.param("z<1", {"z": "1_0"}, False, id="lt-underscore-is-not-go-int"),
        pytest.param("x in (a,b)", {"x": "b"}, True, id="in-two"),
        pytest.param("x notin (a,b)", {"x": "b"}, False, id="notin-two"),
        pytest.param("x=a,x=b", {"x": "a"}, False, id="contradiction"),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_matches_none_labels_as_empty() -> None:
    assert parse_label_selector("!x").matches(None) is True
    assert parse_label_selector("x").matches(None) is False


def test_everything_and_nothing() -> None:
    assert EVERYTHING.empty() and EVERYTHING.matches({"x": "y"})
    assert not NOTHING.empty() and not NOTHING.matches({}) and NOTHING.is_nothing()
    assert str(NOTHING) == "" and str(EVERYTHING) == ""
    assert NOTHING != EVERYTHING
    assert parse_label_selector("") == EVERYTHING
    assert not parse_label_selector("x").empty()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", {}, id="everything"),
        pytest.param("a=b,c==d", {"a": "b", "c": "d"}, id="eq-and-double-eq"),
        pytest.param("a in (b)", {"a": "b"}, id="single-in"),
        pytest.param("a=b,a=b", {"a": "b"}, id="repeated"),
        pytest.param("a=b,a=c", None, id="contradiction"),
        pytest.param("a in (b,c)", None, id="multi-in"),
        pytest.param("a=b,c", None, id="exists"),
        pytest.param("a!=b", None, id="not-equals"),
    ],
)
def test_equality_requirements(text: str, expected: dict[str, str] | None) -> None:
    assert parse_label_selector(text).equality_requirements() == expected


def test_equality_requirements_returns_a_copy_and_nothing_has_none() -> None:
    sel = parse_label_selector("a=b")
    eq = sel.equality_requirements()
    assert eq is not None
    eq["x"] = "y"
    assert sel.equality_requirements() == {"a": "b"}
    assert NOTHING.equality_requirements() is None


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        pytest.param("key in (value)", "key", "value", id="in-one"),
        pytest.param("key in (value,value2)", "key", None, id="in-two"),
        pytest.param("key in (value,value1),key2 in (value2)", "key2", "value2", id="second"),
        pytest.param("key=value", "key", "value", id="eq"),
        pytest.param("key==value", "key", "value", id="double-eq"),
        pytest.param("key!=value", "key", None, id="neq"),
        pytest.param("key=value", "other", None, id="other-key"),
    ],
)
def test_requires_exact_match(text: str, key: str, expected: str | None) -> None:
    assert parse_label_selector(text).requires_exact_match(key) == expected


def test_label_selector_is_immutable_and_hashable() -> None:
    sel = parse_label_selector("a=b")
    with pytest.raises(AttributeError):
        sel._reqs = ()  # type: ignore[misc]
    assert hash(sel) == hash(parse_label_selector("a = b"))
    assert {sel, parse_label_selector("a=b")} == {sel}
    assert repr(sel) == "LabelSelector('a=b')"


def test_constructor_sorts_requirements_by_key() -> None:
    sel = LabelSelector(
        [Requirement("z", Operator.EXISTS), Requirement("a", Operator.IN, ("b", "a"))]
    )
    assert str(sel) == "a in (a,b),z"
    assert sel.requirements()[0].key == "a"


@pytest.mark.parametrize(
    ("key", "op", "values", "message"),
    [
        pytest.param(
            "x",
            Operator.IN,
            (),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set "
            "can't be empty",
            id="in-empty",
        ),
        pytest.param(
            "x",
            Operator.EQUALS,
            ("a", "b"),
            'values: Invalid value: []string{"a", "b"}: exact-match compatibility requires '
            "one single value",
            id="eq-two",
        ),
        pytest.param(
            "foo",
            Operator.GREATER_THAN,
            ("bar",),
            "values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be "
            "an integer",
            id="gt-not-int",
        ),
        pytest.param(
            "a" * 254,
            Operator.EXISTS,
            (),
            f'key: Invalid value: "{"a" * 254}": name part must be no more than 63 bytes',
            id="key-too-long",
        ),
    ],
)
def test_new_requirement_errors(
    key: str, op: Operator, values: tuple[str, ...], message: str
) -> None:
    with pytest.raises(BadRequest) as info:
        new_requirement(key, op, values)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("key", "op", "values"),
    [
        pytest.param("x", Operator.IN, ("foo",), id="in"),
        pytest.param("x", Operator.NOT_IN, ("foo",), id="notin"),
        pytest.param("x", Operator.EXISTS, (), id="exists"),
        pytest.param("1foo", Operator.IN, ("bar",), id="digit-key"),
        pytest.param("1234", Operator.IN, ("bar",), id="numeric-key"),
        pytest.param("y", Operator.GREATER_THAN, ("1",), id="gt"),
        pytest.param("z", Operator.LESS_THAN, ("6",), id="lt"),
    ],
)
def test_new_requirement_accepts(key: str, op: Operator, values: tuple[str, ...]) -> None:
    assert new_requirement(key, op, values) == Requirement(key, op, values)


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        pytest.param("simple", True, id="simple"),
        pytest.param("now.with.dots/simple", True, id="prefixed"),
        pytest.param("Uppercase_Is_OK_123", True, id="uppercase"),
        pytest.param("a" * 253 + "/" + "b" * 63, True, id="max-lengths"),
        pytest.param("nospecialchars%^=@", False, id="specials"),
        pytest.param("cantendwithadash-", False, id="trailing-dash"),
        pytest.param("Example.com/abc", False, id="uppercase-prefix"),
        pytest.param("example.com/", False, id="empty-name"),
        pytest.param("/simple", False, id="empty-prefix"),
        pytest.param("a" * 254 + "/abc", False, id="prefix-too-long"),
        pytest.param("abc\n", False, id="trailing-newline"),
    ],
)
def test_label_key_validation(key: str, ok: bool) -> None:
    assert (label_key_errors(key) == []) is ok


def test_label_value_validation() -> None:
    assert label_value_errors("") == []
    assert label_value_errors("a" * 63) == []
    assert label_value_errors("a" * 64) == ["must be no more than 63 bytes"]
    assert label_value_errors("Tama-nui-te-rā") == [VALUE_RULE]
    assert label_value_errors("end.") == [VALUE_RULE]


# --------------------------------------------------------------------------------------
# metav1.LabelSelector and label maps
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "canonical", "matches_empty"),
    [
        pytest.param({}, "", True, id="empty-selects-everything"),
        pytest.param({"matchLabels": {}, "matchExpressions": []}, "", True, id="empty-parts"),
        pytest.param({"matchLabels": None}, "", True, id="null-parts"),
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", False, id="labels"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "app", "operator": "Exists"},
                ],
            },
            "app=web,app,!canary,env notin (prod),tier in (be,fe)",
            False,
            id="all-operators",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "x", "operator": "In", "values": ["a", "a"]}]},
            "x in (a,a)",
            False,
            id="duplicates-kept",
        ),
    ],
)
def test_label_selector_from_meta(
    meta: dict[str, Any], canonical: str, matches_empty: bool
) -> None:
    sel = label_selector_from_meta(meta)
    assert str(sel) == canonical
    assert sel.matches({}) is matches_empty


def test_label_selector_from_meta_none_selects_nothing() -> None:
    sel = label_selector_from_meta(None)
    assert sel is NOTHING
    assert not sel.matches({"app": "web"})
    assert not sel.matches({})


def test_label_selector_from_meta_matching() -> None:
    sel = label_selector_from_meta(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}],
        }
    )
    assert sel.matches({"app": "web", "tier": "be"})
    assert not sel.matches({"app": "web", "tier": "db"})
    assert not sel.matches({"tier": "be"})


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set "
            "can't be empty",
            id="in-without-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set "
            "can't be empty",
            id="notin-empty-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and '
            "does not exist",
            id="exists-with-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid pod selector operator',
            id="gt-not-in-metav1",
        ),
        pytest.param(
            {"matchLabels": {"a b": "c"}},
            f'key: Invalid value: "a b": name part {NAME_RULE}',
            id="bad-key",
        ),
        pytest.param(
            {"matchLabels": {"a": "c d"}},
            f'values[0][a]: Invalid value: "c d": {VALUE_RULE}',
            id="bad-value",
        ),
    ],
)
def test_label_selector_from_meta_errors(meta: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        label_selector_from_meta(meta)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("labels", "target", "expected"),
    [
        pytest.param({}, {"foo": "bar", "baz": "blah"}, True, id="empty-set"),
        pytest.param(None, {"foo": "bar"}, True, id="none-set"),
        pytest.param({"foo": "bar"}, {"foo": "bar", "baz": "blah"}, True, id="one"),
        pytest.param({"foo": "bar", "baz": "blah"}, {"foo": "bar", "baz": "blah"}, True, id="2"),
        pytest.param({"foo": "=blah"}, {"foo": "bar"}, False, id="unvalidated-value"),
        pytest.param({"foo": "bar", "x": "y"}, {"foo": "bar"}, False, id="missing"),
    ],
)
def test_selector_from_set(
    labels: dict[str, str] | None, target: dict[str, str], expected: bool
) -> None:
    assert selector_from_set(labels).matches(target) is expected


def test_selector_from_set_empty_is_everything_not_nothing() -> None:
    assert selector_from_set({}).empty()
    assert selector_from_set(None) is EVERYTHING
    assert not selector_from_set({}).is_nothing()
    assert str(selector_from_set({"b": "2", "a": "1"})) == "a=1,b=2"
    assert selector_from_set({"b": "2", "a": "1"}).equality_requirements() == {"a": "1", "b": "2"}


def test_selector_from_set_validated() -> None:
    long_value = "axahm2EJ8Phiephe2eixohbee9eGeiyees1thuozi1xoh0GiuH3diewi8iem7Nui"
    with pytest.raises(BadRequest) as info:
        selector_from_set({"Key": long_value}, validate=True)
    assert info.value.message == (
        f'values[0][Key]: Invalid value: "{long_value}": must be no more than 63 bytes'
    )
    assert str(selector_from_set({"key": "val"}, validate=True)) == "key=val"


# --------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("x=a,y=b,z=c", "x=a,y=b,z=c", id="equalities"),
        pytest.param("", "", id="empty"),
        pytest.param("x!=a,y=b", "x!=a,y=b", id="not-equals"),
        pytest.param(r"x=a||y\=b", r"x=a||y\=b", id="escaped-equals"),
        pytest.param(r"x=a\=\=b", r"x=a\=\=b", id="two-escaped-equals"),
        pytest.param("x==a", "x=a", id="double-equals-normalised"),
        pytest.param("x=a,a=x", "a=x,x=a", id="sorted"),
        pytest.param("a=a,", "a=a", id="trailing-comma"),
        pytest.param(",a=a", "a=a", id="leading-comma"),
        pytest.param(r"k=\,,k2=v2", r"k2=v2,k=\,", id="escaped-comma-sorted-bytewise"),
        pytest.param(r"k=\\,k2=v2", r"k2=v2,k=\\", id="escaped-backslash"),
        pytest.param("함=수,목=록", "목=록,함=수", id="multibyte"),
        pytest.param("=", "", id="empty-term-selects-everything"),
        pytest.param("=x", "=x", id="empty-field"),
        pytest.param("spec.nodeName=", "spec.nodeName=", id="empty-value"),
    ],
)
def test_parse_field_selector_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_field_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a=value", ("a", Operator.EQUALS, "value"), id="eq"),
        pytest.param("b==value", ("b", Operator.EQUALS, "value"), id="double-eq"),
        pytest.param("c!=value", ("c", Operator.NOT_EQUALS, "value"), id="neq"),
        pytest.param(r"k=\,", ("k", Operator.EQUALS, ","), id="escaped-comma"),
        pytest.param(r"k=\=", ("k", Operator.EQUALS, "="), id="escaped-equals"),
        pytest.param(r"k=\\\=\,", ("k", Operator.EQUALS, "\\=,"), id="all-escapes"),
        pytest.param("a!b=c", ("a!b", Operator.EQUALS, "c"), id="bang-in-field"),
    ],
)
def test_parse_field_selector_requirements(text: str, expected: tuple[str, Operator, str]) -> None:
    assert parse_field_selector(text).requirements() == (FieldRequirement(*expected),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "x=a||y=b",
            "invalid field selector: unescaped character in value: 61",
            id="unescaped-equals",
        ),
        pytest.param(
            "x==a==b",
            "invalid field selector: unescaped character in value: 61",
            id="double-operator",
        ),
        pytest.param("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'", id="bare-term"),
        pytest.param(
            "x in (a)", "invalid selector: 'x in (a)'; can't understand 'x in (a)'", id="set"
        ),
        pytest.param(
            "x in (a,b,c)",
            "invalid selector: 'x in (a,b,c)'; can't understand 'b'",
            id="set-sorted-first",
        ),
        pytest.param("x", "invalid selector: 'x'; can't understand 'x'", id="no-operator"),
        pytest.param(
            "field,", "invalid selector: 'field,'; can't understand 'field'", id="trailing-comma"
        ),
        pytest.param(
            "k=\\", "invalid field selector: invalid escape sequence: \\", id="orphan-backslash"
        ),
        pytest.param(
            r"k=\a\b", r"invalid field selector: invalid escape sequence: \a", id="unknown-escape"
        ),
        pytest.param(
            r"a\=b=c",
            "invalid field selector: unescaped character in value: 61",
            id="no-escaping-in-field",
        ),
    ],
)
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_field_selector(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("a", "a", id="plain"),
        pytest.param("=", r"\=", id="equals"),
        pytest.param(",", r"\,", id="comma"),
        pytest.param("\\", "\\\\", id="backslash"),
        pytest.param(r"\=\,\\", r"\\\=\\\,\\\\", id="mixed"),
    ],
)
def test_escape_round_trip(raw: str, escaped: str) -> None:
    assert escape_field_value(raw) == escaped
    assert unescape_field_value(escaped) == raw


FIELDS = {"foo": "bar", "baz": "blah", "complex": "=value\\,\\"}


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        pytest.param("", {"x": "y"}, True, id="empty"),
        pytest.param("x=y", {"x": "y"}, True, id="eq"),
        pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="two-eq"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="two-neq"),
        pytest.param("notin=in", {"notin": "in"}, True, id="keywords"),
        pytest.param("x=y", {"x": "z"}, False, id="eq-other"),
        pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="one-of-two"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "w"}, False, id="neq-one-of-two"),
        pytest.param("foo=bar,baz=blah", FIELDS, True, id="fieldset"),
        pytest.param(r"foo=bar,baz=blah,complex=\=value\\\,\\", FIELDS, True, id="complex"),
        pytest.param("foo=blah", FIELDS, False, id="wrong-value"),
        pytest.param("foo=bar,foobar=bar,baz=blah", FIELDS, False, id="missing-field"),
        pytest.param("spec.nodeName=", {}, True, id="missing-reads-as-empty"),
        pytest.param("spec.nodeName!=", {}, False, id="missing-is-not-non-empty"),
    ],
)
def test_field_selector_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


def test_field_selector_api() -> None:
    sel = parse_field_selector("metadata.name=a,status.phase!=Running")
    assert not sel.empty()
    assert FIELDS_EVERYTHING.empty() and parse_field_selector("") == FIELDS_EVERYTHING
    assert sel.requires_exact_match("metadata.name") == "a"
    assert sel.requires_exact_match("status.phase") is None
    assert sel == parse_field_selector("status.phase!=Running,metadata.name==a")
    with pytest.raises(ValueError, match="only = and !="):
        FieldSelector([FieldRequirement("a", Operator.IN, "b")])
    with pytest.raises(AttributeError):
        sel._reqs = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("resource", "text", "message"),
    [
        pytest.param("pods", "spec.foo=x", "field label not supported: spec.foo", id="pods"),
        pytest.param(
            "nodes",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
            id="nodes-have-no-namespace",
        ),
        pytest.param("services", "spec.ports=x", "field label not supported: spec.ports", id="svc"),
        pytest.param(
            "events", "involvedObject=x", "field label not supported: involvedObject", id="ev"
        ),
        pytest.param(
            "ingresses",
            "foo.bar=baz",
            '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"',
            id="default-conversion",
        ),
        pytest.param(
            "endpointslices.discovery.k8s.io",
            "addressType=IPv4",
            '"addressType" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
            id="group-resource",
        ),
    ],
)
def test_validate_field_selector_rejects(resource: str, text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        validate_field_selector(resource, parse_field_selector(text))
    assert info.value.message == message
    assert info.value.code == 400


@pytest.mark.parametrize(
    ("resource", "text", "canonical"),
    [
        pytest.param("pods", "spec.host=n1", "spec.nodeName=n1", id="legacy-alias"),
        pytest.param(
            "pods", "status.podIPs=x,spec.nodeName=n", "spec.nodeName=n,status.podIPs=x", id="p"
        ),
        pytest.param("endpointslices", "metadata.namespace=ns", "metadata.namespace=ns", id="meta"),
        pytest.param(
            "events",
            "involvedObject.uid=u,type=Warning",
            "involvedObject.uid=u,type=Warning",
            id="ev",
        ),
        pytest.param("nodes", "spec.unschedulable=false", "spec.unschedulable=false", id="nodes"),
        pytest.param("namespaces", "status.phase=Active", "status.phase=Active", id="namespaces"),
        pytest.param("services", "spec.type=NodePort", "spec.type=NodePort", id="services"),
    ],
)
def test_validate_field_selector_accepts(resource: str, text: str, canonical: str) -> None:
    assert str(validate_field_selector(resource, parse_field_selector(text))) == canonical


# --------------------------------------------------------------------------------------
# Selectable fields
# --------------------------------------------------------------------------------------

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "prod", "labels": {"app": "web"}},
    "spec": {
        "nodeName": "node-1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccount": "legacy-sa",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.9",
        "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        "nominatedNodeName": "node-2",
    },
}


def test_field_set_pod() -> None:
    assert field_set("pods", POD) == {
        "metadata.name": "web-0",
        "metadata.namespace": "prod",
        "spec.nodeName": "node-1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "legacy-sa",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.0.0.7",
        "status.nominatedNodeName": "node-2",
    }


def test_field_set_minimal_pod_defaults() -> None:
    fields = field_set("pods", {"metadata": {"name": "p"}})
    assert fields["spec.hostNetwork"] == "false"
    assert fields["status.podIP"] == ""
    assert fields["metadata.namespace"] == ""
    assert field_set("pods", {"status": {"podIP": "10.1.1.1"}})["status.podIP"] == "10.1.1.1"


def test_field_set_pod_matches_selector_after_validation() -> None:
    sel = validate_field_selector(
        "pods", parse_field_selector("spec.host=node-1,status.phase!=Failed")
    )
    assert sel.matches(field_set("pods", POD))
    other = validate_field_selector("pods", parse_field_selector("spec.nodeName=node-2"))
    assert not other.matches(field_set("pods", POD))


def test_field_set_event() -> None:
    event = {
        "metadata": {"name": "web-0.17a", "namespace": "prod"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "prod",
            "name": "web-0",
            "uid": "u-1",
            "apiVersion": "v1",
            "resourceVersion": "42",
            "fieldPath": "spec.containers{web}",
        },
        "reason": "Started",
        "reportingComponent": "kubelet",
        "source": {"component": "kubelet-legacy", "host": "node-1"},
        "type": "Normal",
    }
    assert field_set("events", event) == {
        "metadata.name": "web-0.17a",
        "metadata.namespace": "prod",
        "involvedObject.kind": "Pod",
        "involvedObject.namespace": "prod",
        "involvedObject.name": "web-0",
        "involvedObject.uid": "u-1",
        "involvedObject.apiVersion": "v1",
        "involvedObject.resourceVersion": "42",
        "involvedObject.fieldPath": "spec.containers{web}",
        "reason": "Started",
        "reportingComponent": "kubelet",
        "source": "kubelet-legacy",
        "type": "Normal",
    }


def test_field_set_event_source_falls_back_to_reporting_component() -> None:
    event = {"metadata": {"name": "e"}, "reportingComponent": "endpointslice-controller"}
    assert field_set("events", event)["source"] == "endpointslice-controller"


@pytest.mark.parametrize(
    ("resource", "obj", "expected"),
    [
        pytest.param(
            "nodes",
            {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
            {"metadata.name": "n1", "spec.unschedulable": "true"},
            id="node-cluster-scoped",
        ),
        pytest.param(
            "nodes",
            {"metadata": {"name": "n1"}},
            {"metadata.name": "n1", "spec.unschedulable": "false"},
            id="node-default",
        ),
        pytest.param(
            "namespaces",
            {"metadata": {"name": "prod"}, "status": {"phase": "Terminating"}},
            {"metadata.name": "prod", "status.phase": "Terminating"},
            id="namespace",
        ),
        pytest.param(
            "services",
            {
                "metadata": {"name": "web", "namespace": "prod"},
                "spec": {"clusterIP": "10.96.0.10", "type": "ClusterIP"},
            },
            {
                "metadata.name": "web",
                "metadata.namespace": "prod",
                "spec.clusterIP": "10.96.0.10",
                "spec.type": "ClusterIP",
            },
            id="service",
        ),
        pytest.param(
            "endpointslices.discovery.k8s.io",
            {"metadata": {"name": "web-abc", "namespace": "prod"}, "addressType": "IPv4"},
            {"metadata.name": "web-abc", "metadata.namespace": "prod"},
            id="endpointslice-meta-only",
        ),
    ],
)
def test_field_set_other_resources(
    resource: str, obj: dict[str, Any], expected: dict[str, str]
) -> None:
    assert field_set(resource, obj) == expected


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?", fullmatch=True)
_PREFIX = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\.[a-z0-9]{1,4}){0,2}", fullmatch=True)
_KEY = st.one_of(_NAME, st.builds(lambda p, n: f"{p}/{n}", _PREFIX, _NAME))
_VALUE = st.one_of(st.just(""), _NAME)
_INT = st.integers(min_value=0, max_value=10**6).map(str)


@st.composite
def _selector_text(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        key = draw(_KEY)
        kind = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
        if kind in ("=", "==", "!="):
            parts.append(f"{key}{kind}{draw(_VALUE)}")
        elif kind in ("in", "notin"):
            # Upstream rejects "(,,)" and "(a,,)": only one leading empty value here.
            values = draw(st.lists(_NAME, max_size=3))
            if not values or draw(st.booleans()):
                values.insert(0, "")
            parts.append(f"{key} {kind} ({','.join(values)})")
        elif kind == "exists":
            parts.append(key)
        elif kind == "!":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key}{kind}{draw(_INT)}")
    return ",".join(parts)


@settings(max_examples=300, deadline=None)
@given(_selector_text())
def test_label_string_form_reparses_to_equal_selector(text: str) -> None:
    sel = parse_label_selector(text)
    again = parse_label_selector(str(sel))
    assert again == sel
    assert str(again) == str(sel)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=!(),<> \tin/.-_1\\")), max_size=20))
def test_label_parser_only_raises_bad_request(text: str) -> None:
    try:
        sel = parse_label_selector(text)
    except BadRequest as e:
        assert e.message
    else:
        assert parse_label_selector(str(sel)) == sel


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=4))
def test_field_string_form_reparses_to_equal_selector(fields: dict[str, str]) -> None:
    reqs = [
        FieldRequirement(
            k.replace("=", "").replace(",", "").replace("!", "").replace("\\", ""),
            Operator.EQUALS,
            v,
        )
        for k, v in fields.items()
    ]
    reqs = [r for r in reqs if r.field or r.value]
    sel = parse_field_selector(",".join(str(r) for r in reqs))
    assert parse_field_selector(str(sel)) == sel
    assert sorted(sel.requirements(), key=str) == sorted(reqs, key=str)
