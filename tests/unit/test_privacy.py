from callctl.privacy import mask_number


def test_mobile_keeps_first_three_and_last_four() -> None:
    assert mask_number("13812345678") == "138****5678"


def test_at_least_half_of_a_short_number_is_hidden() -> None:
    for number in ("1", "12", "12345", "1234567", "12345678", "0571888888"):
        masked = mask_number(number)
        assert masked is not None
        shown = sum(1 for c in masked if c != "*")
        assert shown <= len(number) // 2, (number, masked)


def test_empty_and_missing_stay_as_they_are() -> None:
    assert mask_number(None) is None
    assert mask_number("") == ""
