"""Photographs for training style networks (nst_helpers.feedforward.data.COURSE_PHOTOS); credits in photos.tsv."""
