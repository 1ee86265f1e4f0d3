"""The CLI's tests score the LeNet example on the digits the jobs tests use."""

from tests.jobs.conftest import caffe_probs, digits  # noqa: F401 (fixtures)
