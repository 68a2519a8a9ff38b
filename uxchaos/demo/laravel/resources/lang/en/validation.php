<?php

// The few messages this app's forms can show (a stock app ships the full list).
return [

    'email' => 'The :attribute must be a valid email address.',
    'required' => 'The :attribute field is required.',
    'string' => 'The :attribute must be a string.',

    'attributes' => [],

];
