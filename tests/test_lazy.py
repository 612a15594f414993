"""lazy_property: computed on the first read only, then read from the instance."""

from dataclasses import dataclass, field

from wizard.physics.lazy import fields_hash, lazy_property


@dataclass(frozen=True)
class Doubled:
    value: int

    @lazy_property
    def doubled(self) -> list[int]:
        """Twice the value, in a new list each time it is computed."""
        return [2 * self.value]


def test_the_first_read_computes_and_later_reads_get_the_same_object():
    d = Doubled(3)
    first = d.doubled
    assert first == [6]
    assert d.doubled is first  # not recomputed: a new list would be another object
    assert d.__dict__["doubled"] is first


def test_instances_keep_their_own_values_and_the_class_gets_the_descriptor():
    assert (Doubled(1).doubled, Doubled(2).doubled) == ([2], [4])
    assert isinstance(Doubled.doubled, lazy_property)
    assert Doubled.doubled.__doc__ == "Twice the value, in a new list each time it is computed."
    assert Doubled(5) == Doubled(5)  # the kept value is no field: equality is the dataclass's


@dataclass(frozen=True)
class Kept:
    value: int
    note: str = field(default="", compare=False)

    def __hash__(self) -> int:
        return self._hash

    @lazy_property
    def _hash(self) -> int:
        return fields_hash(self)


def test_a_kept_hash_is_the_one_a_frozen_dataclass_computes_from_its_compared_fields():
    assert hash(Kept(3, "a")) == hash(Kept(3, "b")) == hash((3,))  # the note is not compared, so not hashed
    assert hash(Doubled(4)) == fields_hash(Doubled(4))  # Doubled's own, generated __hash__
    assert {Kept(1): "one"}[Kept(1, "other")] == "one"
