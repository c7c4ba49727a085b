"""Unit tests of the parameter types: domains, encodings, moves, messages, JSON."""

from __future__ import annotations

import dataclasses
import itertools
import json
import pickle

import numpy as np
import pytest

from search import Boolean, Enum, Integer, InvalidValue, ListOf, Permutation, PowerOfTwo, parameter_from_json
from search.params_seq import freeze, thaw

PARAMS = [
    PowerOfTwo(16, 256, default=64),
    PowerOfTwo(8, 8),
    Integer(1, 8, default=2),
    Enum(["", "first", "last"]),
    Enum([1, True, None, 2.5]),
    Boolean(default=True),
    Permutation(1),
    Permutation(3, default=[2, 0, 1]),
    ListOf(Enum(["a", "b"]), 3),
    ListOf([PowerOfTwo(16, 128), PowerOfTwo(1, 64, default=8)]),
    ListOf([Permutation(2), ListOf(Boolean(), 2)]),
]
IDS = [repr(p) for p in PARAMS]


@pytest.mark.parametrize("param", PARAMS, ids=IDS)
class TestEveryParameter:
    def test_values_match_cardinality_and_validate(self, param):
        values = list(param.values())
        assert len(values) == param.cardinality()
        assert len({freeze(v) for v in values}) == len(values)
        assert all(param.validate(v) == v for v in values)

    def test_encode_decode_round_trip(self, param):
        for value in param.values():
            encoded = param.encode(value)
            assert len(encoded) == param.encoded_size
            assert param.decode(encoded) == value

    def test_default_is_a_valid_value(self, param):
        assert param.contains(param.default)

    def test_samples_are_valid_and_cover_small_domains(self, param):
        rng = np.random.default_rng(0)
        seen = {freeze(param.sample(rng)) for _ in range(400)}
        assert all(param.contains(thaw(v)) for v in seen)
        assert seen == {freeze(v) for v in param.values()}

    def test_neighbors_are_distinct_valid_values(self, param):
        for value in param.values():
            moves = param.neighbors(value)
            assert all(param.contains(m) and freeze(m) != freeze(value) for m in moves)
            assert len({freeze(m) for m in moves}) == len(moves)

    def test_mutate_changes_the_value_when_possible(self, param):
        rng = np.random.default_rng(1)
        for value in param.values():
            for _ in range(5):
                mutated = param.mutate(value, rng)
                assert param.contains(mutated)
                assert (freeze(mutated) != freeze(value)) == (param.cardinality() > 1)

    def test_crossover_gives_valid_values(self, param):
        rng = np.random.default_rng(2)
        values = list(param.values())
        for a, b in itertools.islice(itertools.product(values, values), 60):
            assert param.contains(param.crossover(a, b, rng))

    def test_json_round_trip(self, param):
        data = json.loads(json.dumps(param.to_json()))
        assert "type" in data
        assert parameter_from_json(data) == param
        assert parameter_from_json(data).default == param.default

    def test_pickle_round_trip(self, param):
        assert pickle.loads(pickle.dumps(param)) == param


def test_power_of_two_moves_and_encoding():
    p = PowerOfTwo(16, 256)
    assert p.neighbors(64) == [32, 128]
    assert p.neighbors(16) == [32] and p.neighbors(256) == [128]
    assert p.encode(64) == [6.0]
    assert p.decode([5.4]) == 32 and p.decode([-3.0]) == 16 and p.decode([40.0]) == 256
    assert p.default == 16 and p.cardinality() == 5


def test_integer_moves_and_decoding():
    p = Integer(1, 8)
    assert p.neighbors(1) == [2] and p.neighbors(5) == [4, 6]
    assert p.decode([3.6]) == 4 and p.decode([99.0]) == 8


def test_enum_one_hot_and_nearest_decode():
    p = Enum(["", "first", "last"])
    assert p.encode("first") == [0.0, 1.0, 0.0]
    assert p.decode([0.1, 0.2, 0.7]) == "last"
    assert p.neighbors("") == ["first", "last"]


def test_enum_keeps_true_apart_from_one():
    p = Enum([1, True])
    assert p.validate(True) is True and p.validate(1) == 1 and p.validate(1) is not True
    assert p.index(True) == 1


def test_boolean():
    p = Boolean()
    assert p.neighbors(False) == [True] and p.encode(True) == [1.0] and p.decode([0.4]) is False


def test_permutation_rank_encoding_and_adjacent_transpositions():
    p = Permutation(3)
    assert p.default == [0, 1, 2]
    assert p.encode([2, 0, 1]) == [0.5, 1.0, 0.0]  # element 0 at position 1 of 2, ...
    assert p.decode([0.9, 0.1, 0.5]) == [1, 2, 0]
    assert p.neighbors([0, 1, 2]) == [[1, 0, 2], [0, 2, 1]]


def test_permutation_crossover_keeps_a_slice_of_the_first_parent():
    p = Permutation(6)
    rng = np.random.default_rng(0)
    a, b = [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]
    children = [p.crossover(a, b, rng) for _ in range(50)]
    assert all(sorted(c) == a for c in children)
    assert any(c not in (a, b) for c in children)


def test_list_neighbors_match_brute_force():
    p = ListOf([PowerOfTwo(16, 64), Integer(0, 2)])
    value = [32, 1]
    expected = []
    for other in p.values():
        changed = [i for i in range(2) if other[i] != value[i]]
        if len(changed) == 1 and other[changed[0]] in p.elements[changed[0]].neighbors(value[changed[0]]):
            expected.append(other)
    assert sorted(p.neighbors(value)) == sorted(expected)


def test_list_validate_canonicalizes_numpy_and_tuples():
    p = ListOf(PowerOfTwo(1, 64), 2)
    value = p.validate((np.int64(4), 8))
    assert value == [4, 8] and type(value) is list and type(value[0]) is int


@pytest.mark.parametrize("param, value, fragments", [
    (PowerOfTwo(16, 256), 48, ["PowerOfTwo(16, 256)", "48", "[16, 256]"]),
    (PowerOfTwo(16, 256), 512, ["512", "[16, 256]"]),
    (PowerOfTwo(16, 256), 64.0, ["expected an int", "float"]),
    (Integer(1, 8), 9, ["Integer(1, 8)", "9", "[1, 8]"]),
    (Enum(["a", "b"]), "c", ["'c'", "['a', 'b']"]),
    (Boolean(), 1, ["True or False", "int"]),
    (Permutation(3), [0, 0, 1], ["[0, 0, 1]", "0..2"]),
    (ListOf(PowerOfTwo(16, 64), 2), [16], ["length 2"]),
    (ListOf([PowerOfTwo(16, 64), PowerOfTwo(1, 8)]), [16, 16], ["element 1", "PowerOfTwo(1, 8)", "16"]),
])
def test_validate_messages_name_the_parameter_and_bounds(param, value, fragments):
    with pytest.raises(InvalidValue) as raised:
        param.validate(value)
    assert isinstance(raised.value, ValueError)
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert not param.contains(value)


@pytest.mark.parametrize("build", [
    lambda: PowerOfTwo(3, 16), lambda: PowerOfTwo(32, 16), lambda: Integer(5, 1), lambda: Enum([]),
    lambda: Enum(["a", "a"]), lambda: Enum([["nested"]]), lambda: PowerOfTwo(16, 64, default=8),
    lambda: Permutation(0), lambda: ListOf(Boolean(), -1), lambda: ListOf([Boolean()], 2),
])
def test_bad_definitions_raise_value_errors(build):
    with pytest.raises(ValueError):
        build()


def test_parameters_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PowerOfTwo(16, 64).low = 8
    perm, lst = Permutation(3), ListOf(Boolean(), 2)
    with pytest.raises(AttributeError):
        perm.n = 4
    perm.default.append(9)
    lst.default[0] = True
    assert perm.default == [0, 1, 2] and lst.default == [False, False]


def test_unknown_json_type_lists_known_types():
    with pytest.raises(ValueError, match="PowerOfTwo"):
        parameter_from_json({"type": "Float"})
