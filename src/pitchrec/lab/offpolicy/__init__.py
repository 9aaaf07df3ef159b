"""lab/offpolicy"""
