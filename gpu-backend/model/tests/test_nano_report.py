"""The ablation statement in docs/default-model.md follows the measured numbers and their noise."""

from gigatok_model.nano import report


def row(psnr, fid_guided, fid_cfg1, cons_guided=(0.95, 0.95), cons_cfg1=(0.7, 0.7)):
    def gen(fids, cons):
        return {
            "fid_runs": list(fids),
            "fid": sum(fids) / len(fids),
            "consistency_runs": list(cons),
            "consistency": sum(cons) / len(cons),
        }

    return {
        "psnr": psnr,
        "ssim": 0.9,
        "rfid": 1.0,
        "guided": gen(fid_guided, cons_guided),
        "cfg1": gen(fid_cfg1, cons_cfg1),
    }


def test_lower_fid_beyond_the_seed_spread_in_both_settings_is_a_yes():
    text = report.verdict(row(23.0, (2.0, 2.2), (3.0, 3.1)), row(23.5, (4.0, 4.1), (5.0, 5.2)))
    assert text.startswith("**Yes**")
    assert "-0.50 dB" in text


def test_differences_inside_the_seed_spread_are_not_called_an_improvement():
    text = report.verdict(row(23.0, (2.0, 3.0), (3.0, 4.0)), row(23.0, (2.2, 3.2), (3.1, 4.1)))
    assert text.startswith("**No measurable effect**")
    assert "no clear difference" in text


def test_higher_fid_in_both_settings_is_a_no():
    text = report.verdict(row(23.0, (5.0, 5.1), (6.0, 6.1)), row(23.0, (2.0, 2.1), (3.0, 3.1)))
    assert text.startswith("**No**")


def test_the_shipped_stages_are_held_to_the_sixty_minute_budget():
    assert "(met)" in report.shipped_time({"shipped": {"wall_s": 3500.0, "cpu_s": 6900.0}})
    assert "(NOT met)" in report.shipped_time({"shipped": {"wall_s": 3700.0, "cpu_s": 7000.0}})
    assert report.shipped_time({}) == ""  # results from before the split
