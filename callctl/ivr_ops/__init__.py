"""The IVR at run time: emergency notices switched over AMI, messages left, call paths."""
