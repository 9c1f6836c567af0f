#!/usr/bin/env python3
"""Tests of accuracy.py's report (ctest: scripts.accuracy): run directories written here as
stqn-train leaves them (metrics.json, export.json), the report rebuilt by the script as a user runs
it (--report-only), and the claims, pending runs and recipe check read back."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "accuracy.py")
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(SCRIPT))
import accuracy  # noqa: E402  (the recipe and variants the runs must carry)

EPOCHS = 3


def write_run(root, name, seed, top1, epochs=EPOCHS, lr=None, teacher=None, teacher_crc32=None,
              recipe=accuracy.DEFAULT_RECIPE):
    """A finished (or, with fewer epochs, interrupted) run of variant `name`: golden top-1 `top1`.
    Its --init and --teacher are the ones accuracy.py passes, unless `teacher` says otherwise."""
    weights, acts = accuracy.VARIANTS[name]
    run = os.path.join(root, f"{name}-s{seed}")
    os.makedirs(run)
    fp32 = os.path.join(root, f"fp32-s{seed}", "checkpoint.bin")
    start = accuracy.FROM_FP32.get(name, [])
    config = dict(accuracy.RECIPES[recipe]["config"], weights=weights, acts=acts, seed=seed,
                  init=fp32 if "--init" in start else "", teacher=fp32 if "--teacher" in start else "")
    if lr is not None:
        config["lr"] = lr
    if teacher is not None:
        config["teacher"] = teacher
    if teacher_crc32 is not None:
        config["teacher_crc32"] = teacher_crc32
    metrics = {"config": config,
               "epochs": [{"epoch": e + 1, "wall_seconds": 10.0 * (e + 1), "images_per_second": 100.0,
                           "test_top1": top1} for e in range(epochs)]}
    with open(os.path.join(run, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    with open(os.path.join(run, "checkpoint.bin"), "wb") as f:  # only its CRC-32 trailer is read
        f.write(b"STQNCKPT" + (1000 * seed + int(1000 * top1)).to_bytes(4, "little"))
    if weights != "fp32" and epochs == EPOCHS:
        with open(os.path.join(run, "export.json"), "w") as f:
            json.dump({"epochs": EPOCHS, "golden_top1": top1, "trainer_top1": top1, "agreement": 1.0,
                       "images": 10000}, f)


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.runs = os.path.join(self.tmp.name, "runs")
        os.makedirs(self.runs)

    def tearDown(self):
        self.tmp.cleanup()

    def report(self, recipe=accuracy.DEFAULT_RECIPE):
        """Runs the script's --report-only as `make accuracy-report` does (a trial budget: the
        report lands in the runs directory); returns (exit code, stderr, report or None)."""
        p = subprocess.run([sys.executable, SCRIPT, "--stqn-train", "/nonexistent/stqn-train",
                            "--runs", self.runs, "--epochs", str(EPOCHS), "--official-epochs", "10",
                            "--recipe", recipe, "--no-plots", "--report-only"], capture_output=True, text=True)
        path = os.path.join(self.runs, "accuracy.json")
        rep = None
        if p.returncode == 0:
            with open(path) as f:
                rep = json.load(f)
        return p.returncode, p.stderr, rep

    def claim(self, rep, text):
        return next(c for c in rep["claims"] if c["claim"] == text)

    def test_claim_holds_on_the_mean_even_when_one_seed_loses(self):
        sttn, twn = {1: 0.905, 2: 0.899, 3: 0.910}, {1: 0.900, 2: 0.902, 3: 0.903}
        for s in (1, 2, 3):
            write_run(self.runs, "sttn", s, sttn[s])
            write_run(self.runs, "twn", s, twn[s])
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        c = self.claim(rep, "sttn > twn")
        self.assertEqual(c["seeds"], [1, 2, 3])
        for got, s in zip(c["difference_points"], (1, 2, 3)):
            self.assertAlmostEqual(got, 100 * (sttn[s] - twn[s]), places=9)
        self.assertTrue(c["holds"])
        with open(os.path.join(self.runs, "accuracy-table.md")) as f:
            table = f.read()
        self.assertIn("| sttn > twn | s1: +0.50, s2: -0.30, s3: +0.70 |", table)
        self.assertIn("| holds |", table)

    def test_claim_fails_when_the_mean_is_lower(self):
        for s in (1, 2, 3):
            write_run(self.runs, "stqn2-ternary", s, 0.880)
            write_run(self.runs, "rtn2-ternary", s, 0.881)
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        self.assertIs(self.claim(rep, "stqn2-ternary > rtn2-ternary")["holds"], False)
        with open(os.path.join(self.runs, "accuracy-table.md")) as f:
            self.assertIn("**does not hold**", f.read())

    def test_claim_is_pending_until_every_seed_is_in(self):
        for s in (1, 2, 3):
            write_run(self.runs, "sttn", s, 0.91)
        write_run(self.runs, "twn", 1, 0.90)
        write_run(self.runs, "twn", 2, 0.90)
        write_run(self.runs, "twn", 3, 0.95, epochs=EPOCHS - 1)  # interrupted: not counted
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        c = self.claim(rep, "sttn > twn")
        self.assertEqual(c["seeds"], [1, 2])
        self.assertIsNone(c["holds"])
        self.assertIn("twn-s3", rep["pending"])
        # Every variant is covered, whatever a pipeline trains: the others are pending.
        self.assertIn("fp32-s1", rep["pending"])
        self.assertEqual({s["name"] for s in rep["summary"]}, {"sttn", "twn"})

    def test_a_run_of_another_recipe_stops_the_report(self):
        write_run(self.runs, "sttn", 1, 0.9, lr=1e-3)
        code, err, rep = self.report()
        self.assertNotEqual(code, 0)
        self.assertIsNone(rep)
        self.assertIn(os.path.join(self.runs, "sttn-s1", "metrics.json"), err)
        self.assertIn("'lr'", err)

    def test_each_recipe_takes_only_its_own_runs(self):
        write_run(self.runs, "sttn", 1, 0.92, recipe="no-augment")
        code, err, rep = self.report()  # the main table's recipe trains with crop + flip
        self.assertNotEqual(code, 0)
        self.assertIn(os.path.join(self.runs, "sttn-s1", "metrics.json"), err)
        self.assertIn("'augment'", err)
        code, err, rep = self.report(recipe="no-augment")
        self.assertEqual(code, 0, err)
        self.assertEqual(rep["recipe"], "Adam lr 0.003 cosine, batch 128, no augmentation, pools at bn")
        self.assertAlmostEqual(rep["summary"][0]["top1_mean"], 0.92, places=9)
        # Its table covers fp32, TWN and STTN only: the others are not pending.
        self.assertEqual(rep["pending"], [f"{n}-s{s}" for s in (1, 2, 3) for n in ("fp32", "twn", "sttn")
                                          if (n, s) != ("sttn", 1)])
        with open(os.path.join(self.runs, "accuracy-table.md")) as f:
            table = f.read()
        self.assertTrue(table.startswith("<!-- accuracy-table-no-augment:begin"), table[:80])
        self.assertIn("8 of 9 runs not finished", table)
        # A report of one recipe is not continued under another.
        code, err, rep = self.report()
        self.assertNotEqual(code, 0)
        self.assertIn("'recipe'", err)

    def test_the_recipe_flags_train_runs_the_recipe_accepts(self):
        # make reference-package trains with the printed options: stqn-train records them as the
        # config fields that check_recipe compares.
        for recipe, config in accuracy.RECIPES.items():
            p = subprocess.run([sys.executable, SCRIPT, "--recipe", recipe, "--print-recipe-flags"],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            flags = p.stdout.split()
            self.assertEqual(float(flags[flags.index("--lr") + 1]), config["config"]["lr"])
            self.assertEqual(flags[flags.index("--pool-at") + 1], config["config"]["pool_at"])
            self.assertEqual("--no-augment" in flags, not config["config"]["augment"])

    def test_a_recipe_trains_and_records_only_its_own_variants(self):
        p = subprocess.run([sys.executable, SCRIPT, "--stqn-train", "/nonexistent/stqn-train",
                            "--runs", self.runs, "--recipe", "no-augment", "--variants", "sttn,rtn2-ternary",
                            "--no-plots"], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'rtn2-ternary' is not a variant of the no-augment table", p.stderr)
        self.assertEqual(os.listdir(self.runs), [])  # refused before any run started
        # A recorded report naming a variant outside the recipe's table is refused, and kept.
        write_run(self.runs, "sttn", 1, 0.92, recipe="no-augment")
        code, err, rep = self.report(recipe="no-augment")
        self.assertEqual(code, 0, err)
        path = os.path.join(self.runs, "accuracy.json")
        rep["runs"][0].update(name="rtn2-ternary", weights="rtn:2")
        with open(path, "w") as f:
            json.dump(rep, f)
        shutil.rmtree(os.path.join(self.runs, "sttn-s1"))
        code, err, _ = self.report(recipe="no-augment")
        self.assertNotEqual(code, 0)
        self.assertIn(f"{path}: runs[0]: variant 'rtn2-ternary'", err)
        with open(path) as f:
            self.assertEqual(json.load(f)["runs"][0]["name"], "rtn2-ternary")

    def test_a_distilled_run_counts_its_teacher_and_must_use_its_own_seeds(self):
        write_run(self.runs, "fp32", 1, 0.93)
        write_run(self.runs, "sttn-kd", 1, 0.905)
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        row = next(s for s in rep["summary"] if s["name"] == "sttn-kd")
        self.assertEqual(row["epochs"], 2 * EPOCHS)  # the teacher's epochs are part of its cost
        self.assertEqual(row["wall_seconds_mean"], 2 * 10.0 * EPOCHS)
        self.assertAlmostEqual(row["top1_mean"], 0.905, places=9)
        # A run distilled from another seed's teacher is another recipe.
        write_run(self.runs, "fp32", 2, 0.93)
        write_run(self.runs, "sttn-kd", 2, 0.905, teacher=os.path.join(self.runs, "fp32-s1", "checkpoint.bin"))
        code, err, rep = self.report()
        self.assertNotEqual(code, 0)
        self.assertIn(os.path.join(self.runs, "sttn-kd-s2", "metrics.json"), err)
        self.assertIn("'teacher'", err)

    def test_the_gap_to_fp32_pairs_seeds(self):
        write_run(self.runs, "fp32", 1, 0.930)
        write_run(self.runs, "sttn", 1, 0.900)
        write_run(self.runs, "sttn", 2, 0.880)  # no fp32 seed 2 yet: not in the gap
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        row = next(s for s in rep["summary"] if s["name"] == "sttn")
        self.assertAlmostEqual(row["below_fp32_points"], 3.0, places=9)
        self.assertIsNone(next(s for s in rep["summary"] if s["name"] == "fp32")["below_fp32_points"])

    def test_a_distilled_run_must_name_its_teacher_by_content(self):
        write_run(self.runs, "fp32", 1, 0.93)
        fp32 = os.path.join(self.runs, "fp32-s1", "checkpoint.bin")
        write_run(self.runs, "sttn-kd", 1, 0.905, teacher_crc32=accuracy.checkpoint_crc32(fp32))
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        # The fp32 run was retrained after the student had started: another teacher.
        with open(fp32, "r+b") as f:
            f.seek(-4, os.SEEK_END)
            f.write((12345).to_bytes(4, "little"))
        code, err, rep = self.report()
        self.assertNotEqual(code, 0)
        self.assertIn(os.path.join(self.runs, "sttn-kd-s1", "metrics.json"), err)
        self.assertIn("'teacher_crc32'", err)

    def test_the_report_keeps_runs_whose_directories_are_gone(self):
        write_run(self.runs, "fp32", 1, 0.93)
        write_run(self.runs, "sttn", 1, 0.905)
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        shutil.rmtree(os.path.join(self.runs, "sttn-s1"))  # the build tree went (make clean)
        shutil.rmtree(os.path.join(self.runs, "fp32-s1"))
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        row = next(s for s in rep["summary"] if s["name"] == "sttn")
        self.assertAlmostEqual(row["top1_mean"], 0.905, places=9)
        self.assertAlmostEqual(row["below_fp32_points"], 2.5, places=9)
        self.assertNotIn("sttn-s1", rep["pending"])
        # A run directory that finishes again replaces what the report recorded.
        write_run(self.runs, "sttn", 1, 0.911)
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        self.assertAlmostEqual(next(s for s in rep["summary"] if s["name"] == "sttn")["top1_mean"], 0.911,
                               places=9)

    def recorded(self, **changes):
        """A report that recorded one finished STTN run, with `changes` applied to its top level or,
        for keys starting with 'run_', to the run."""
        run = {"name": "sttn", "seed": 1, "weights": "sttn", "acts": "ternary", "epochs": EPOCHS,
               "wall_seconds": 30.0, "images_per_second": 100.0, "trainer_top1": 0.9, "golden_top1": 0.9,
               "agreement": 1.0, "run": "gone/sttn-s1"}
        rep = {"recipe": accuracy.recipe_text(accuracy.DEFAULT_RECIPE), "epochs": EPOCHS, "train_limit": 0, "runs": [run]}
        for key, value in changes.items():
            target, key = (run, key[4:]) if key.startswith("run_") else (rep, key)
            if value is None:
                del target[key]
            else:
                target[key] = value
        with open(os.path.join(self.runs, "accuracy.json"), "w") as f:
            json.dump(rep, f)

    def test_a_recorded_report_is_read_back_and_checked(self):
        self.recorded()
        code, err, rep = self.report()
        self.assertEqual(code, 0, err)
        self.assertEqual([(e["name"], e["seed"]) for e in rep["runs"]], [("sttn", 1)])
        path = os.path.join(self.runs, "accuracy.json")
        for changes, field in [({"recipe": "SGD"}, "'recipe'"), ({"epochs": EPOCHS + 1}, "'epochs'"),
                               ({"run_golden_top1": 1.5}, "'golden_top1'"), ({"run_seed": "1"}, "'seed'"),
                               ({"run_agreement": None}, "'agreement'"), ({"run_weights": "twn"}, "'sttn'")]:
            with self.subTest(changes=changes):
                self.recorded(**changes)
                code, err, rep = self.report()
                self.assertNotEqual(code, 0)
                self.assertIn(path, err)
                self.assertIn(field, err)
                with open(path) as f:  # a refused report is left as it was
                    self.assertNotIn("date_utc", json.load(f))


if __name__ == "__main__":
    unittest.main()
