"""A channel into the lab's guests through the QEMU guest agent, with the API token only."""
