"""Experiment layer: configs (config.py), run results (results.py), the paired-seed runner
(runner.py, sequential.py), statistics and the decision gate (stats.py), refutation and
the record an experiment writes (record_writer.py). Import from the submodules."""
