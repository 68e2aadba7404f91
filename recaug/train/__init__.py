"""recaug.train"""
