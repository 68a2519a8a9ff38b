<?php

namespace Database\Seeders;

use App\Models\User;
use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\Hash;

class DatabaseSeeder extends Seeder
{
    /**
     * The demo user that uxchaos's login journeys sign in as (DEMO_EMAIL / DEMO_PASSWORD, set by
     * `uxchaos demo up --app laravel` from UXCHAOS_DEMO_EMAIL / UXCHAOS_DEMO_PASSWORD).
     */
    public function run()
    {
        User::updateOrCreate(
            ['email' => env('DEMO_EMAIL', 'demo@example.com')],
            ['name' => env('DEMO_NAME', 'Demo User'), 'password' => Hash::make(env('DEMO_PASSWORD', 'demo-password'))]
        );
    }
}
