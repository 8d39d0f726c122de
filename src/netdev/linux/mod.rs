//! Linux driver over rtnetlink (work in progress).
