"""The seed paper's study, reproduced (:mod:`nst_helpers.study`), installed as the subpackage
``nst_helpers.study_data``. Written by ``python tools/seed_study.py``; do not edit by hand.
"""
