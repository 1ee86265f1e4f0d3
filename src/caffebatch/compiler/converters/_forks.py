"""The Caffe forks that layer types outside BVLC Caffe come from (for `converts(fork=...)`)."""

SSD = "weiliu89/caffe (SSD)"
