<?php

use Illuminate\Support\Facades\Route;

// This app has no API routes.
